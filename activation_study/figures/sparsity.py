"""Study-wide per-layer sparsity and dead-node bars (stage plot): Table 1 of 000 and
Tables 5.1/5.2 of 001 drawn as grouped bars, untrained beside trained."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from activation_study.figures.style import BATCHNORM_LABEL, activation_colour, new_figure

STATES = ("initial", "best")  # untrained (hatched) then trained (solid)


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
    activation's colour from ``style`` (relu blue, sigmoid red), darker without batch
    norm and lighter with it. Error bars: ± 1 s.e. over seeds.
    """
    table = table.copy()
    table["batchnorm"] = table["batchnorm"].astype(bool)
    panels = sorted(table[["dataset", "width", "depth"]].drop_duplicates()
                    .itertuples(index=False, name=None))
    activations = list(dict.fromkeys(table["activation"]))
    pairs = [(a, bn) for a in activations for bn in sorted(table["batchnorm"].unique())
             if ((table["activation"] == a) & (table["batchnorm"] == bn)).any()]
    colours = {(a, bn): _lighter(activation_colour(a, activations), 0.5) if bn else to_rgb(
        activation_colour(a, activations)) for a, bn in pairs}
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
