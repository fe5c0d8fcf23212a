"""Per-network figures of the dissertation's chapters 4-5 and seed 004 (stage plot_activations).

One network (one configuration, one seed) at a time, as the dissertation shows it:

- ``histogram_figure``: per-class histograms of pre-activations and activations at a few nodes
  of a shallow, a middle and the last hidden layer (Fig. 4.1/4.2, 4.6/4.7);
- ``class_medians_figure``: the median of every class at every node, nodes along x layer
  after layer, untrained above trained (Fig. 4.3-4.5, 4.8-4.10);
- ``node_activity_figure``: fraction of samples with the node on, per node (Fig. 5.1);
- ``class_activity_heatmap``: that fraction per class and node (Fig. 5.6);
- ``activation_probability_figure``: per layer, activation probabilities sorted in decreasing
  order (seed 004, Fig. 2-4);
- ``slopes_figure``: PReLU's learned slopes per layer and saved state.

Every function returns a Figure from ``style.new_figure``; colours per class come from
``style.class_colours``, the same in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from activation_study.figures.style import class_colours, new_figure
from activation_study.network.model import get_activation

STATES = ("initial", "best")  # the two model states drawn: untrained and trained
STATE_LABEL = {"initial": "untrained (initialisation)", "best": "trained (kept parameters)"}
HIST_BINS = 40
SPIKE_FACTOR = 4.0  # a histogram bin this many times taller than all others is clipped
POINT_MASS = 0.05  # a single value taken by this share of samples is noted in the panel
SEPARATOR = {"color": "0.45", "lw": 0.9}  # vertical lines between layers
DEAD_COLOUR = "red"


def _class_legend(fig: Figure, num_classes: int, loc: str = "outside right upper") -> None:
    colours = class_colours(num_classes)
    handles = [Patch(color=colours[c], label=str(c)) for c in range(num_classes)]
    fig.legend(handles=handles, title="class", loc=loc, frameon=False,
               ncols=1 if "right" in loc else min(num_classes, 10))


def _nodes_axis(ax: Axes, depth: int, width: int, top_labels: bool = True,
                separator: dict | None = None) -> None:
    """x axis of nodes layer after layer: separators, node numbers at the layer boundaries."""
    ax.set_xlim(-0.5, depth * width - 0.5)
    for k in range(1, depth):
        ax.axvline(k * width - 0.5, **(separator or SEPARATOR), zorder=2.5)
    ax.set_xticks([k * width for k in range(depth + 1)])
    if top_labels:
        top = ax.secondary_xaxis("top")
        top.set_xticks([(k + 0.5) * width - 0.5 for k in range(depth)],
                       [f"layer {k + 1}" for k in range(depth)])
        top.tick_params(length=0)


def _flat(per_layer: np.ndarray) -> np.ndarray:
    """(L, ..., W) -> (..., L*W): layers concatenated along the last axis."""
    per_layer = np.asarray(per_layer, dtype=np.float64)
    return np.concatenate(list(per_layer), axis=-1)


# ---------------------------------------------------------------- Fig. 4.1/4.2, 4.6/4.7


def histogram_layers(depth: int) -> list[int]:
    """0-based indices of the first, a middle ((depth - 1) // 2) and the last hidden layer."""
    return sorted({0, (depth - 1) // 2, depth - 1})


def choose_nodes(class_medians: np.ndarray, dead: np.ndarray, count: int) -> list[int]:
    """``count`` nodes of one layer for the histograms, most class-separating first.

    ``class_medians`` (C, W): class medians of the pre-activation; ``dead`` (W,). Live nodes
    are ranked by the spread (std over classes) of their class medians; the nodes taken are
    at ranks 0, n/count, 2n/count, ... of the n live nodes: the most separating node, then
    evenly spaced ones below it (typical nodes, not only the best). Dead nodes follow when
    fewer than ``count`` nodes are live.
    """
    medians = np.asarray(class_medians, dtype=np.float64)
    finite = np.isfinite(medians)
    n_finite = finite.sum(axis=0)
    mean = np.where(finite, medians, 0).sum(axis=0) / np.maximum(n_finite, 1)
    var = np.where(finite, (medians - mean) ** 2, 0).sum(axis=0) / np.maximum(n_finite, 1)
    spread = np.where(n_finite >= 2, np.sqrt(var), -np.inf)
    dead = np.asarray(dead, dtype=bool)
    live = [int(i) for i in np.argsort(-spread, kind="stable") if not dead[i]]
    picked = [live[int(r)] for r in np.linspace(0, len(live), count, endpoint=False)
              ] if live else []
    picked = list(dict.fromkeys(picked))
    rest = [int(i) for i in np.flatnonzero(dead) if i not in picked]
    return (picked + rest)[:count]


def _bin_edges(values: np.ndarray) -> np.ndarray:
    """``HIST_BINS`` equal bins over the values' range (finite values, at least one).

    Values stored as float16 take few distinct levels over a narrow range; bins then get a
    whole number of levels each, so the histogram shows no comb of empty bins.
    """
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-6 * max(1.0, abs(low)):
        return np.linspace(low - 0.5, high + 0.5, HIST_BINS + 1)
    levels = np.unique(values)
    step = float(np.diff(levels).min())
    if (high - low) / step < 4 * HIST_BINS:
        per_bin = max(1, int(np.ceil((high - low) / step / HIST_BINS)))
        count = int(np.floor((high - low) / step / per_bin)) + 1
        return low - step / 2 + per_bin * step * np.arange(count + 1)
    return np.linspace(low, high, HIST_BINS + 1)


def _class_histograms(ax: Axes, values: np.ndarray, labels: np.ndarray,
                      colours: list) -> str | None:
    """Overlaid per-class histograms on shared bins; returns the panel's note (share of
    samples at one value, clipped bar) or None."""
    keep = np.isfinite(values)
    values, labels = values[keep], labels[keep]
    if values.size == 0:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
        return None
    edges = _bin_edges(values)
    low, high = float(edges[0]), float(edges[-1])
    counts = np.stack([np.histogram(values[labels == c], bins=edges)[0]
                       for c in range(len(colours))])
    for c, colour in enumerate(colours):
        if counts[c].any():
            ax.stairs(counts[c], edges, fill=True, facecolor=to_rgba(colour, 0.18),
                      edgecolor=colour, lw=0.9)
    ax.set_xlim(low, high)
    level, repeats = np.unique(values, return_counts=True)
    mass = repeats.argmax()  # a point mass, e.g. ReLU's exact zeros, is always noted
    note = (f"{repeats[mass] / values.size:.0%} of samples = {level[mass]:.3g}"
            if repeats[mass] >= POINT_MASS * values.size else None)
    tallest = counts.max(axis=0)
    spike = int(tallest.argmax())
    others = np.delete(tallest, spike).max(initial=0)
    if others > 0 and tallest[spike] > SPIKE_FACTOR * others:
        ax.set_ylim(0, 1.3 * others)
        if note:
            return note + " (bar clipped)"
        in_bin = (values >= edges[spike]) & (values <= edges[spike + 1])
        return (f"{in_bin.sum() / values.size:.0%} of samples in [{edges[spike]:.2g}, "
                f"{edges[spike + 1]:.2g}] (bar clipped)")
    ax.set_ylim(0, 1.08 * max(int(tallest.max()), 1))
    return note


def histogram_figure(pre: np.ndarray, labels: np.ndarray, nodes: dict[int, Sequence[int]],
                     activation: str, num_classes: int, title: str,
                     shape: float | None = None, slopes: np.ndarray | None = None) -> Figure:
    """Per-class histograms at chosen nodes: pre-activations (top block), activations (bottom).

    ``pre`` (L, N, W): pre-activations of one network on one sample set (a memory map is
    fine: only the chosen nodes are read); ``labels`` (N,); ``nodes``: 0-based layer index ->
    node indices, a row of panels per layer in each block. Activations are the registry's
    function applied to the pre-activations. Each panel has its own bins, shared by the
    classes; a bin far taller than the rest (ReLU's zeros) is clipped, and the share of
    samples at a single value (ReLU's zeros) is written in the panel.
    """
    act = get_activation(activation, shape)
    labels = np.asarray(labels)
    colours = class_colours(num_classes)
    layers = sorted(nodes)
    cols = max(len(nodes[layer]) for layer in layers)
    fig = new_figure(max(6.4, 1.2 + 2.55 * cols), 1.6 + 2 * (0.55 + 1.55 * len(layers)))
    blocks = fig.subfigures(2, 1)
    names = {"pre": "pre-activation z (input of the activation function)",
             "act": f"activation {activation}(z)"}
    for block, kind in zip(blocks, names, strict=True):
        axes = block.subplots(len(layers), cols, squeeze=False)
        block.suptitle(names[kind], fontsize=11, fontweight="bold")
        for row, layer in zip(axes, layers, strict=True):
            chosen = list(nodes[layer])
            z = np.asarray(pre[layer][:, chosen], dtype=np.float32)
            if kind == "pre":
                values = z
            elif slopes is not None:  # PReLU: each node's learned slope
                values = act.apply(torch.from_numpy(z),
                                   torch.from_numpy(slopes[layer][chosen])).numpy()
            else:
                values = act.fn(torch.from_numpy(z)).numpy()
            for j, ax in enumerate(row):
                if j >= len(chosen):
                    ax.set_axis_off()
                    continue
                note = _class_histograms(ax, values[:, j], labels, colours)
                ax.set_title(f"layer {layer + 1}, node {chosen[j]}", fontsize=9)
                ax.tick_params(labelsize=8)
                if note:
                    ax.text(0.98, 0.96, note, transform=ax.transAxes, ha="right", va="top",
                            fontsize=7, color="0.25")
            row[0].set_ylabel("samples", fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel("z" if kind == "pre" else f"{activation}(z)", fontsize=9)
    _class_legend(fig, num_classes, loc="outside lower center")
    fig.suptitle(title, fontsize=11)
    return fig


# ---------------------------------------------------------------- Fig. 4.3-4.5, 4.8-4.10


def class_medians_figure(medians: dict[str, np.ndarray], ylabel: str, title: str) -> Figure:
    """Median of every class at every node: a row per state (label -> (L, C, W) array).

    Nodes along x layer after layer; a dot per class and node in the class's colour, drawn
    in a fixed shuffled order so no class systematically hides the others. NaN (a class
    without samples) is left out.
    """
    first = next(iter(medians.values()))
    depth, num_classes, width = first.shape
    colours = np.array(class_colours(num_classes))
    fig = new_figure(min(16.0, max(8.0, 2.0 + depth * width / 110)), 0.9 + 2.6 * len(medians))
    axes = fig.subplots(len(medians), 1, squeeze=False)[:, 0]
    order = np.random.default_rng(0).permutation(num_classes * depth * width)
    x = np.tile(np.arange(depth * width), num_classes)[order]
    c = np.repeat(np.arange(num_classes), depth * width)[order]
    for ax, (label, values) in zip(axes, medians.items(), strict=True):
        y = _flat(values).ravel()[order]
        ax.scatter(x, y, s=3.5, c=colours[c], lw=0)
        _nodes_axis(ax, depth, width, top_labels=ax is axes[0])
        ax.set_ylabel(f"{label}\n{ylabel}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("node (layers concatenated)")
    _class_legend(fig, num_classes)
    fig.suptitle(title, fontsize=11)
    return fig


# ---------------------------------------------------------------- Fig. 5.1 and 5.6


def node_activity_figure(rows: dict[str, tuple[np.ndarray, np.ndarray]], colour: str,
                         title: str) -> Figure:
    """Node activity (% of samples on) per node, a row per (label -> (activity, dead)).

    ``activity`` (L, W) fractions and ``dead`` (L, W) bools of one network; nodes along x
    layer after layer. Dead nodes are red crosses at 0; a dashed line marks each layer's
    mean activity over its live nodes, written above the layer with its number of dead nodes.
    """
    depth, width = next(iter(rows.values()))[0].shape
    fig = new_figure(min(16.0, max(8.0, 2.0 + depth * width / 110)), 1.1 + 2.2 * len(rows))
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    edges = np.arange(depth * width + 1) - 0.5
    for ax, (label, (activity, dead)) in zip(axes, rows.items(), strict=True):
        percent = 100 * np.asarray(activity, dtype=np.float64)
        dead = np.asarray(dead, dtype=bool)
        ax.stairs(np.nan_to_num(_flat(percent)), edges, fill=True, color=colour, alpha=0.85)
        x_dead = np.flatnonzero(_flat(dead))
        if x_dead.size:  # an empty line outside the axes would still stretch the layout
            ax.plot(x_dead, np.zeros(len(x_dead)), "x", color=DEAD_COLOUR, ms=4, mew=1.1,
                    clip_on=False, zorder=3)
        for k in range(depth):
            live = percent[k][~dead[k] & np.isfinite(percent[k])]
            mean = float(live.mean()) if live.size else np.nan
            if np.isfinite(mean):
                ax.hlines(mean, k * width - 0.5, (k + 1) * width - 0.5, color="black",
                          ls="--", lw=1.1, zorder=2)
            note = f"mean {mean:.0f}% on" if np.isfinite(mean) else "all dead"
            ax.text((k + 0.5) * width - 0.5, 104,
                    f"layer {k + 1}: {note}, {int(dead[k].sum())} dead",
                    ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 100)
        _nodes_axis(ax, depth, width, top_labels=False)
        ax.set_ylabel(f"{label}\nactivity (% on)", fontsize=9)
    axes[-1].set_xlabel("node: " + ", ".join(
        f"layer {k + 1} = {k * width}-{(k + 1) * width - 1}" for k in range(depth)))
    handles = [Patch(color=colour, alpha=0.85, label="node activity"),
               Line2D([], [], color="black", ls="--", label="layer mean (live nodes)"),
               Line2D([], [], color=DEAD_COLOUR, marker="x", ls="", label="dead node")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def class_activity_heatmap(activity: np.ndarray, dead: np.ndarray, title: str) -> Figure:
    """Fig. 5.6: fraction of each class's samples with the node on; classes x nodes.

    ``activity`` (L, C, W) and ``dead`` (L, W) of one network. A panel per layer, nodes
    along x numbered across layers; a dead node (no sample on) is a red column, as in the
    dissertation, marked with a red triangle above the map. Brighter = on for more of the
    class's samples; grey = NaN (a class without samples).
    """
    depth, num_classes, width = activity.shape
    dead = np.asarray(dead, dtype=bool)
    fig = new_figure(min(16.0, max(8.0, 2.5 + depth * width / 110)), 1.9 + 0.28 * num_classes)
    axes = fig.subplots(1, depth, sharey=True, squeeze=False)[0]
    fig.get_layout_engine().set(wspace=0.0, w_pad=0.02)
    cmap = colormaps["viridis"].with_extremes(bad="0.6")
    for k, ax in enumerate(axes):
        shown = ax.imshow(np.ma.masked_invalid(np.asarray(activity[k], dtype=np.float64)),
                          aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
                          extent=(k * width - 0.5, (k + 1) * width - 0.5, num_classes - 0.5,
                                  -0.5))
        red = np.zeros((1, width, 4))
        red[0, dead[k]] = to_rgba(DEAD_COLOUR)
        ax.imshow(red, aspect="auto", interpolation="nearest",
                  extent=(k * width - 0.5, (k + 1) * width - 0.5, num_classes - 0.5, -0.5))
        x_dead = k * width + np.flatnonzero(dead[k])
        if x_dead.size:  # a marker row above the map: thin red columns are easy to miss
            ax.plot(x_dead, np.full(x_dead.size, -0.5), "v", color=DEAD_COLOUR, ms=5,
                    clip_on=False, transform=ax.transData, zorder=3)
        ax.set_ylim(num_classes - 0.5, -0.5)
        ax.set_xticks([k * width, (k + 1) * width - 1])
        ax.set_title(f"layer {k + 1} ({int(dead[k].sum())} dead)", fontsize=10, pad=8)
    axes[0].set_yticks(range(num_classes))
    axes[0].set_ylabel("class")
    absent = ", grey: no samples of the class" if np.isnan(activity).any() else ""
    fig.supxlabel("node (numbered across layers); dead nodes: red columns, marked ▼ above"
                  + absent, fontsize=10)
    fig.colorbar(shown, ax=list(axes), label="fraction of the class's\nsamples with the node on",
                 fraction=0.04, pad=0.01)
    fig.suptitle(title, fontsize=11)
    return fig


# ---------------------------------------------------------------- seed 004, Fig. 2-4


def activation_probability_figure(probabilities: dict[str, np.ndarray], title: str) -> Figure:
    """Per layer, activation probabilities sorted in decreasing order (x = unit rank).

    ``probabilities``: state -> (L, W), fraction of samples for which a unit is not
    saturated; ``initial`` dashed, ``best`` solid, a colour per layer. The legend gives each
    layer's lifetime sparsity (mean probability), untrained -> trained. NaNs are left out.
    """
    states = list(probabilities)
    depth, width = probabilities[states[0]].shape
    colours = colormaps["viridis"](np.linspace(0, 0.85, depth))
    fig = new_figure(7.2, 4.6)
    ax = fig.subplots()
    styles = {"initial": "--", "best": "-"}
    for k in range(depth):
        means = []
        for state in states:
            values = np.asarray(probabilities[state][k], dtype=np.float64)
            values = np.sort(values[np.isfinite(values)])[::-1]
            ax.plot(np.arange(1, len(values) + 1), values, styles.get(state, ":"),
                    color=colours[k], lw=1.6)
            means.append(f"{values.mean():.2f}" if values.size else "n/a")
        ax.plot([], [], color=colours[k], lw=2.5, label=f"layer {k + 1}: {' → '.join(means)}")
    for state in states:
        ax.plot([], [], styles.get(state, ":"), color="0.3", label=STATE_LABEL.get(state, state))
    ax.set_xlim(1, width)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("unit rank (sorted by decreasing activation probability)")
    ax.set_ylabel("activation probability\n(fraction of samples not saturated)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.9,
              title="lifetime sparsity (mean),\n" + " → ".join(
                  STATE_LABEL.get(s, s).split(" (")[0] for s in states),
              title_fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


# ---------------------------------------------------------------- PReLU


def slopes_figure(slopes: dict[str, np.ndarray], title: str) -> Figure:
    """A panel per hidden layer: the distribution of learned slopes (every seed and node) in
    each saved state, untrained to kept; ``slopes`` maps state -> ``(layers, seeds, nodes)``."""
    states = list(slopes)
    depth = next(iter(slopes.values())).shape[0]
    fig = new_figure(max(6.4, 1.0 + 2.4 * depth), 3.4)
    axes = fig.subplots(1, depth, sharey=True, squeeze=False)[0]
    for layer, ax in enumerate(axes):
        ax.boxplot([slopes[s][layer].ravel() for s in states], whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(states) + 1), [s.replace("epoch", "ep ") for s in states],
                      rotation=45, fontsize=8)
        ax.set_title(f"layer {layer + 1}", fontsize=9)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("slope a (box: quartiles; whiskers: 5-95 %)")
    fig.suptitle(title, fontsize=10)
    return fig
