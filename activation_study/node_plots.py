"""Per-network figures of the dissertation's chapters 4-5 and seed 004, and per-layer bars.

One network (one configuration, one seed) at a time, as the dissertation shows it:

- ``histogram_figure``: per-class histograms of pre-activations and activations at a few nodes
  of a shallow, a middle and the last hidden layer (Fig. 4.1/4.2, 4.6/4.7);
- ``class_medians_figure``: the median of every class at every node, nodes along x layer
  after layer, untrained above trained (Fig. 4.3-4.5, 4.8-4.10);
- ``node_activity_figure``: fraction of samples with the node on, per node (Fig. 5.1);
- ``class_activity_heatmap``: that fraction per class and node (Fig. 5.6);
- ``activation_probability_figure``: per layer, activation probabilities sorted in decreasing
  order (seed 004, Fig. 2-4).

``write_config_figures`` draws all of them from the outputs of extract_activations@CONFIG and
compute_metrics@CONFIG. ``sparsity_dead_bars`` draws the per-layer sparsity and dead-node
percentages of the whole grid for the global plot stage (Table 1 of 000, Tables 5.1/5.2 of 001).

Like ``plotting``, every function returns a Figure on matplotlib's Agg canvas without pyplot;
colours per activation come from ``plotting.curve_colours`` and colours per class from
``class_colours``, the same in every figure.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from activation_study.activations import REGISTRY, get_activation, prelu
from activation_study.io import read_json
from activation_study.params import ParamError
from activation_study.plotting import BATCHNORM_LABEL, curve_colours

DPI = 110
STATES = ("initial", "best")  # the two model states drawn: untrained and trained
STATE_LABEL = {"initial": "untrained (initialisation)", "best": "trained (kept parameters)"}
HIST_BINS = 40
MAX_PNG_BYTES = 200_000
SPIKE_FACTOR = 4.0  # a histogram bin this many times taller than all others is clipped
POINT_MASS = 0.05  # a single value taken by this share of samples is noted in the panel
SEPARATOR = {"color": "0.45", "lw": 0.9}  # vertical lines between layers
DEAD_COLOUR = "red"
NODE_KEYS = ("pre_median", "act_median", "activity", "activity_per_class", "dead",
             "activation_probability")
TEST_KEYS = ("activity", "dead", "activation_probability")
CONFIG_ID = re.compile(r"(?P<dataset>[^-]+)-(?P<activation>[^-]+)-d(?P<depth>\d+)"
                       r"-w(?P<width>\d+)-bn(?P<bn>true|false)")


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG; one over ``MAX_PNG_BYTES`` (dense scatters and overlaid fills)
    is written instead with an adaptive 256-colour palette, which keeps it a few times
    smaller without a visible change."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if buffer.tell() > MAX_PNG_BYTES:
        image = Image.open(buffer).convert("RGB")
        palette = image.quantize(256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        palette.save(buffer, format="png", optimize=True, dpi=(dpi, dpi))
    Path(path).write_bytes(buffer.getvalue())
    return Path(path)


def class_colours(num_classes: int) -> list[tuple[float, float, float]]:
    """A colour per class: tab10 for up to 10 classes, tab20 up to 20, turbo beyond."""
    if num_classes <= 10:
        return [to_rgb(c) for c in colormaps["tab10"].colors[:num_classes]]
    if num_classes <= 20:
        return [to_rgb(c) for c in colormaps["tab20"].colors[:num_classes]]
    return [to_rgb(c) for c in colormaps["turbo"](np.linspace(0, 1, num_classes))]


def activation_colour(name: str) -> str:
    """The activation's colour in ``plotting``'s figures (relu blue, sigmoid red)."""
    return curve_colours([name])[name, "train"]


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
    fn = get_activation(activation, shape).fn
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
                values = prelu(torch.from_numpy(z), torch.from_numpy(slopes[layer][chosen])).numpy()
            else:
                values = fn(torch.from_numpy(z)).numpy()
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


# ---------------------------------------------------------------- the global plot stage


def _lighter(colour: str, amount: float = 0.5) -> tuple[float, float, float]:
    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def sparsity_dead_bars(table: pd.DataFrame) -> Figure:
    """Per-layer sparsity (top row) and dead-node percentage (bottom row) as grouped bars.

    ``table``: a row per configuration, state and layer with the columns dataset, activation,
    depth, width, batchnorm, state ("initial"/"best"), layer (1-based), sparsity_pct,
    sparsity_pct_se, dead_pct, dead_pct_se (s.e. NaN for one seed: no error bar).

    Layout: a column of panels per (dataset, width, depth), panel widths proportional to the
    depth so every bar has the same width; the two rows share their y axis (percent). In a
    panel, a group of bars per layer; in a group, a pair of bars per (activation, batch norm):
    the untrained network (hatched, light) left of the trained one (solid). Colour = the
    activation's colour from ``plotting`` (relu blue, sigmoid red), darker without batch
    norm and lighter with it. Error bars: ± 1 s.e. over seeds.
    """
    table = table.copy()
    table["batchnorm"] = table["batchnorm"].astype(bool)
    panels = sorted(table[["dataset", "width", "depth"]].drop_duplicates()
                    .itertuples(index=False, name=None))
    activations = list(dict.fromkeys(table["activation"]))
    pairs = [(a, bn) for a in activations for bn in sorted(table["batchnorm"].unique())
             if ((table["activation"] == a) & (table["batchnorm"] == bn)).any()]
    colours = {(a, bn): _lighter(activation_colour(a), 0.5) if bn else to_rgb(
        activation_colour(a)) for a, bn in pairs}
    several = len({(d, w) for d, w, _ in panels}) > 1 or table["dataset"].nunique() > 1
    slots = [(pair, state) for pair in pairs for state in STATES]
    bar = 0.86 / len(slots)
    depths = [depth for _, _, depth in panels]
    fig = new_figure(min(18.0, max(7.5, 1.4 + 0.11 * len(slots) * sum(depths)
                                + 0.35 * len(panels))), 6.4)
    axes = fig.subplots(2, len(panels), squeeze=False, sharey="row",
                        gridspec_kw={"width_ratios": depths})
    rows = (("sparsity_pct", "sparsity (% of samples off,\nmean over live nodes)"),
            ("dead_pct", "dead nodes (% of layer)"))
    for col, (dataset, width, depth) in enumerate(panels):
        part = table[(table["dataset"] == dataset) & (table["width"] == width)
                     & (table["depth"] == depth)]
        for row, (key, label) in enumerate(rows):
            ax = axes[row][col]
            for i, ((activation, bn), state) in enumerate(slots):
                runs = part[(part["activation"] == activation) & (part["batchnorm"] == bn)
                            & (part["state"] == state)].sort_values("layer")
                if runs.empty:
                    continue
                x = runs["layer"].to_numpy() + (i - (len(slots) - 1) / 2) * bar
                colour = colours[activation, bn]
                mean = runs[key].to_numpy(dtype=float)
                se = runs[f"{key}_se"].to_numpy(dtype=float)
                style = ({"color": colour} if state == "best" else
                         {"facecolor": (*colour, 0.3), "edgecolor": colour, "hatch": "////",
                          "lw": 0.6})
                ax.bar(x, mean, width=bar, **style)
                shown = np.isfinite(mean) & np.isfinite(se) & (se > 0)
                if shown.any():  # no s.e. (one seed) or none at all: no error bar
                    ax.errorbar(x[shown], mean[shown], yerr=se[shown], fmt="none", ecolor="0.2",
                                lw=0.8, capsize=1.5)
            ax.set_xticks(range(1, depth + 1))
            ax.set_xlim(0.5, depth + 0.5)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title((f"{dataset}, " if several else "") + f"width {width}, "
                             f"depth {depth}", fontsize=10)
            else:
                ax.set_xlabel("hidden layer")
    axes[0][0].set_ylim(0, 100)
    axes[1][0].set_ylim(bottom=0)
    handles = [Patch(color=colours[pair], label=f"{pair[0]}, {BATCHNORM_LABEL[pair[1]]}")
               for pair in pairs]
    handles += [Patch(facecolor="0.55", label="trained (solid)"),
                Patch(facecolor=(0.55, 0.55, 0.55, 0.3), edgecolor="0.55", hatch="////",
                      label="untrained (hatched)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
               frameon=False)
    datasets = ", ".join(dict.fromkeys(table["dataset"]))
    fig.suptitle(f"{datasets}: per-layer sparsity and dead nodes, training set "
                 f"(mean ± s.e. over seeds)", fontsize=11)
    return fig


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


# ---------------------------------------------------------------- one configuration


def upstream_stage(stage: str, cid: str) -> str:
    """The dvc.yaml matrix stage that writes ``cid``'s folder, e.g.
    extract_activations@mnist5k-relu-4-200-False for mnist5k-relu-d4-w200-bnfalse."""
    match = CONFIG_ID.fullmatch(cid)
    if not match:
        return stage
    parts = match.groupdict()
    return (f"{stage}@{parts['dataset']}-{parts['activation']}-{parts['depth']}-"
            f"{parts['width']}-{parts['bn'].capitalize()}")


def _check_inputs(extraction_dir: Path, metrics_dir: Path) -> dict:
    """meta.json, after checking that every file the figures read is there (all named)."""
    missing_extract = [p for p in (extraction_dir / "meta.json",) if not p.is_file()]
    meta = {} if missing_extract else read_json(extraction_dir / "meta.json")
    sets = meta.get("sets", ["train"])
    if meta:
        missing_extract += [p for p in (extraction_dir / "labels_train.npy",
                                        *(extraction_dir / f"pre_{s}_train.npy" for s in STATES))
                            if not p.is_file()]
    metric_files = [metrics_dir / f"{state}_train_{key}.npy" for state in STATES
                    for key in NODE_KEYS]
    if "test" in sets:
        metric_files += [metrics_dir / f"{state}_test_{key}.npy" for state in STATES
                         for key in TEST_KEYS]
    missing_metrics = [p for p in metric_files if not p.is_file()]
    extract = upstream_stage("extract_activations", extraction_dir.name)
    compute = upstream_stage("compute_metrics", metrics_dir.name)
    lines = [f"{p} is missing: run `dvc repro {extract}`" for p in missing_extract]
    lines += [f"{p} is missing: run `dvc repro {compute}`" for p in missing_metrics]
    if lines:
        raise ParamError("plot_activations needs these inputs:\n  " + "\n  ".join(lines))
    absent = [s for s in STATES if s not in meta["states"]]
    if absent:
        raise ParamError(f"{extraction_dir / 'meta.json'}: no state {', '.join(absent)}; "
                         f"rerun `dvc repro {extract}`")
    if meta["spec"]["activation"] not in REGISTRY:
        raise ParamError(f"{extraction_dir / 'meta.json'}: unknown activation "
                         f"{meta['spec']['activation']!r}; known: {', '.join(REGISTRY)}")
    return meta


def write_config_figures(extraction_dir: Path, metrics_dir: Path, out_dir: Path,
                         seed_index: int, hist_nodes: int, dpi: int = DPI) -> list[Path]:
    """Every per-network figure of one configuration and seed as PNG into ``out_dir``.

    Reads ``extraction_dir`` (extract_activations: meta.json, labels_train.npy,
    pre_<state>_train.npy) and ``metrics_dir`` (compute_metrics: <state>_<set>_<key>.npy,
    arrays (L, S, ...) with seeds second); draws seed ``meta["seeds"][seed_index]``.
    Writes histograms_initial.png and histograms_best.png (the same nodes in both: chosen
    by ``choose_nodes`` on the trained network), class_medians.png, class_medians_pre.png,
    node_activity.png, class_activity_heatmap.png, activation_probability_sorted.png (test
    set when extracted, else training set) and, for PReLU, prelu_slopes.png. Raises
    ParamError naming every missing input and the stage that writes it.
    """
    extraction_dir, metrics_dir, out_dir = Path(extraction_dir), Path(metrics_dir), Path(out_dir)
    meta = _check_inputs(extraction_dir, metrics_dir)
    seeds = meta["seeds"]
    if not 0 <= seed_index < len(seeds):
        raise ParamError(f"params.yaml: 'plots.seed_index' = {seed_index} is not allowed; "
                         f"{extraction_dir.name} has {len(seeds)} seeds (0..{len(seeds) - 1})")
    spec = meta["spec"]
    activation = spec["activation"]
    num_classes = int(spec["num_classes"])
    network = f"{extraction_dir.name}, seed {seeds[seed_index]}"
    threshold = get_activation(activation, spec.get("shape")).on_threshold

    def metric(state: str, part: str, key: str) -> np.ndarray:
        return np.load(metrics_dir / f"{state}_{part}_{key}.npy", mmap_mode="r")[:, seed_index]

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Figure, name: str) -> None:
        written.append(save_png(fig, out_dir / name, dpi))

    labels = np.load(extraction_dir / "labels_train.npy")
    depth = metric("best", "train", "dead").shape[0]
    nodes = {layer: choose_nodes(metric("best", "train", "pre_median")[layer],
                                 metric("best", "train", "dead")[layer], hist_nodes)
             for layer in histogram_layers(depth)}
    slopes = {state: np.load(extraction_dir / f"slopes_{state}.npy") for state in meta["states"]
              if (extraction_dir / f"slopes_{state}.npy").is_file()}
    for state in STATES:
        pre = np.load(extraction_dir / f"pre_{state}_train.npy", mmap_mode="r")[:, seed_index]
        seed_slopes = slopes[state][:, seed_index] if state in slopes else None
        save(histogram_figure(
            pre, labels, nodes, activation, num_classes,
            f"{network}\nclass distributions at single nodes, {STATE_LABEL[state]}, training set"
            "\nnodes: live nodes ranked by spread of class medians (trained): the top one, then "
            "evenly spaced ranks", shape=spec.get("shape"), slopes=seed_slopes),
            f"histograms_{state}.png")
    if slopes:
        save(slopes_figure(slopes, f"{extraction_dir.name}: learned PReLU slopes, every node "
                                   "and seed"), "prelu_slopes.png")

    for key, name, what in (("act_median", "class_medians.png", f"activations {activation}(z)"),
                            ("pre_median", "class_medians_pre.png", "pre-activations z")):
        save(class_medians_figure(
            {STATE_LABEL[s]: metric(s, "train", key) for s in STATES},
            f"class median of {what.split()[-1]}",
            f"{network}\nmedian of every class at every node: {what}, training set"), name)

    rows = {"trained,\ntraining set": (metric("best", "train", "activity"),
                                       metric("best", "train", "dead"))}
    if "test" in meta["sets"]:
        rows["trained,\ntest set"] = (metric("best", "test", "activity"),
                                      metric("best", "test", "dead"))
    rows["untrained,\ntraining set"] = (metric("initial", "train", "activity"),
                                        metric("initial", "train", "dead"))
    save(node_activity_figure(
        rows, activation_colour(activation),
        f"{network}\nnode activity: % of samples with {activation}(z) > {threshold:g}"),
        "node_activity.png")

    save(class_activity_heatmap(
        metric("best", "train", "activity_per_class"), metric("best", "train", "dead"),
        f"{network}\nclass-specific activity per node, {STATE_LABEL['best']}, training set"),
        "class_activity_heatmap.png")

    part = "test" if "test" in meta["sets"] else "train"
    save(activation_probability_figure(
        {s: metric(s, part, "activation_probability") for s in STATES},
        f"{network}\nactivation probabilities per layer, sorted, {part} set"),
        "activation_probability_sorted.png")
    return written
