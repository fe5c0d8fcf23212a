"""The dissertation's figures: learning curves (Fig. 3.2) and test accuracy against depth (3.4).

Pure functions on the train stage's outputs loaded as DataFrames; canvas, colours and labels
come from ``style``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from activation_study.figures.style import BATCHNORM_LABEL, KINDS, curve_colours, new_figure

DPI = 120
MIN_WIDTH = 6.4  # inches: room for the title and legend when there are few panels
CURVE_COLUMNS = ("epoch", "train_acc", "train_acc_se", "validation_acc", "validation_acc_se")
BATCHNORM_STYLE = {False: {"marker": "o", "linestyle": "-"},
                   True: {"marker": "s", "linestyle": "--", "markerfacecolor": "white"}}


def _new_figure(rows: int, cols: int, panel: tuple[float, float]) -> tuple[Figure, list]:
    fig = new_figure(max(MIN_WIDTH, 0.8 + panel[0] * cols), 1.6 + panel[1] * rows)
    return fig, fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)


def _legend(fig: Figure, handles: list, entry_width: float) -> None:
    """One legend below the panels, as many columns as fit the figure's width (inches)."""
    ncols = min(len(handles), max(1, int(fig.get_figwidth() // entry_width)))
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def _select(frame: pd.DataFrame, **keys: object) -> pd.DataFrame:
    rows = frame.loc[(frame[list(keys)] == pd.Series(keys)).all(axis=1)]
    if rows.empty:
        raise ValueError(f"no rows for {keys}")
    return rows


def _over_seeds(frame: pd.DataFrame) -> str:
    low, high = frame["seeds"].min(), frame["seeds"].max()
    if high == 1:
        return "1 seed, no s.e."
    return f"mean ± s.e. over {low if low == high else f'{low}-{high}'} seeds"


def learning_curves_figure(curves: pd.DataFrame, dataset: str, width: int) -> Figure:
    """Fig. 3.2: train and validation accuracy per epoch, a column per depth, a row per batch norm.

    ``curves`` holds the rows of the curve CSVs with the columns of ``configuration.FIELDS``
    and ``seeds`` (number of seeds) added; only ``dataset`` and ``width`` are drawn. Epoch 0
    (initialisation) is left out; the y axis starts a little below the lowest validation
    accuracy after the first tenth of the epochs, so early epochs may enter from below.
    """
    runs = _select(curves, dataset=dataset, width=width).query("epoch >= 1")
    depths = sorted(runs["depth"].unique())
    batchnorms = sorted(runs["batchnorm"].unique())
    activations = list(runs["activation"].unique())
    colours = curve_colours(activations)
    fig, axes = _new_figure(len(batchnorms), len(depths), panel=(3.0, 2.3))

    for (bn, depth, activation), run in runs.groupby(["batchnorm", "depth", "activation"]):
        ax = axes[batchnorms.index(bn)][depths.index(depth)]
        for kind, style in KINDS.items():
            mean, se = run[f"{kind}_acc"], run[f"{kind}_acc_se"]
            colour = colours[activation, kind]
            ax.fill_between(run["epoch"], mean - se, mean + se, color=colour, alpha=0.2, lw=0)
            ax.plot(run["epoch"], mean, style, color=colour, lw=1.3)

    last = runs["epoch"].max()
    low = float(runs.loc[runs["epoch"] >= max(1, last // 10), "validation_acc"].min())
    pad = max(1.0, 0.08 * (100 - low))
    axes[0][0].set_ylim(max(0.0, low - pad), 100 + pad / 3)
    axes[0][0].set_xlim(1, last)
    axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax, depth in zip(axes[0], depths, strict=True):
        ax.set_title(f"depth {depth}")
    for row, bn in zip(axes, batchnorms, strict=True):
        row[0].set_ylabel(f"{BATCHNORM_LABEL[bn]}\naccuracy (%)")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in itertools.chain.from_iterable(axes):
        ax.grid(alpha=0.3)

    handles = [Line2D([], [], color=colours[a, k], ls=s, label=f"{a} {k}")
               for a in activations for k, s in KINDS.items()]
    handles.append(Patch(color="grey", alpha=0.3, label="± 1 s.e."))
    _legend(fig, handles, entry_width=1.9)
    fig.suptitle(f"{dataset}, width {width}: train and validation accuracy\n"
                 f"{_over_seeds(runs)}")
    return fig


def accuracy_vs_depth_figure(results: pd.DataFrame, dataset: str) -> Figure:
    """Fig. 3.4: test accuracy (mean ± s.e. error bars) against depth, a panel per width.

    ``results`` has one row per configuration: the columns of ``configuration.FIELDS``,
    ``test_acc``, ``test_acc_se`` and ``seeds``; only ``dataset`` is drawn. A line per
    activation and batch-norm setting; the lines are dodged sideways a little so error bars
    do not overlap.
    """
    rows = _select(results, dataset=dataset).sort_values("depth")
    widths = sorted(rows["width"].unique())
    depths = sorted(rows["depth"].unique())
    activations = list(rows["activation"].unique())
    batchnorms = sorted(rows["batchnorm"].unique())
    colours = curve_colours(activations)
    lines = list(itertools.product(activations, batchnorms))
    gap = min((b - a for a, b in itertools.pairwise(depths)), default=1)
    step = 0.4 * gap / len(lines)
    fig, axes = _new_figure(1, len(widths), panel=(3.8, 3.2))

    for (width, activation, bn), line in rows.groupby(["width", "activation", "batchnorm"]):
        dodge = (lines.index((activation, bn)) - (len(lines) - 1) / 2) * step
        axes[0][widths.index(width)].errorbar(
            line["depth"] + dodge, line["test_acc"], yerr=line["test_acc_se"],
            color=colours[activation, "train"], capsize=3, ms=5, lw=1.3, **BATCHNORM_STYLE[bn])

    axes[0][0].set_xticks(depths)
    axes[0][0].set_ylabel("test accuracy (%)")
    for ax, width in zip(axes[0], widths, strict=True):
        ax.set_title(f"width {width}")
        ax.set_xlabel("depth (hidden layers)")
        ax.grid(alpha=0.3)

    handles = [Line2D([], [], color=colours[a, "train"], label=f"{a}, {BATCHNORM_LABEL[bn]}",
                      **BATCHNORM_STYLE[bn]) for a, bn in lines]
    _legend(fig, handles, entry_width=2.6)
    fig.suptitle(f"{dataset}: test accuracy against depth\n{_over_seeds(rows)}")
    return fig


def write_figures(curves: pd.DataFrame, results: pd.DataFrame, folder: Path,
                  dpi: int = DPI) -> list[Path]:
    """Every figure of the study as PNG into ``folder`` (created); returns the files written.

    ``learning_curves_<dataset>_w<width>.png`` per dataset and width,
    ``test_accuracy_vs_depth_<dataset>.png`` per dataset.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset, width in curves[["dataset", "width"]].drop_duplicates().itertuples(index=False):
        path = folder / f"learning_curves_{dataset}_w{width}.png"
        learning_curves_figure(curves, dataset, width).savefig(path, dpi=dpi)
        written.append(path)
    for dataset in results["dataset"].unique():
        path = folder / f"test_accuracy_vs_depth_{dataset}.png"
        accuracy_vs_depth_figure(results, dataset).savefig(path, dpi=dpi)
        written.append(path)
    return written
