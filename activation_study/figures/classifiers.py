"""Figures of the layer classifiers (dissertation Fig. 6.2-6.7).

Pure functions on a long table of per-layer accuracies (one row per configuration, state, set,
system and layer; the network's own accuracy as system ``network``), as built by
``results.tables.accuracy_table`` from the classify_layers metrics. Colours follow the dissertation:
discrete blue, continuous orange, combined green, the network's accuracy a red dashed line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from activation_study.figures.style import new_figure, save_png

SYSTEM_STYLE = {"discrete": {"color": "tab:blue", "marker": "o"},
                "continuous": {"color": "tab:orange", "marker": "s"},
                "combined": {"color": "tab:green", "marker": "^"}}
NETWORK_STYLE = {"color": "red", "linestyle": "--", "linewidth": 1.2}
SET_LABEL = {"train": "train accuracy (%)", "test": "test accuracy (%)",
             "validation": "validation accuracy (%)"}
PANEL = (2.3, 2.1)  # inches per panel


def _panel(ax: Axes, rows: pd.DataFrame, depth: int) -> None:
    """Per-layer accuracy of each system (mean, band of +- s.e.) and the network's."""
    for system, style in SYSTEM_STYLE.items():
        curve = rows[rows["system"] == system].sort_values("layer")
        if curve.empty:
            continue
        se = curve["se"].fillna(0.0)
        ax.plot(curve["layer"], curve["mean"], markersize=3.5, linewidth=1.3, **style)
        ax.fill_between(curve["layer"], curve["mean"] - se, curve["mean"] + se,
                        color=style["color"], alpha=0.2, linewidth=0)
    network = rows[rows["system"] == "network"]["mean"]
    if len(network):
        ax.axhline(float(network.iloc[0]), **NETWORK_STYLE)
    ax.set_xlim(0.7, depth + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _grid_figure(panels: list[tuple[str, int, dict]], frame: pd.DataFrame, sets: list[str],
                 title: str, share_y: bool) -> Figure:
    """Rows: sets; columns: ``(column title, depth, row selector)``; y shared along a row
    when ``share_y``, else each panel scaled to its own curves."""
    fig = new_figure(max(6.4, 0.8 + PANEL[0] * len(panels)), 1.2 + PANEL[1] * len(sets))
    axes = fig.subplots(len(sets), len(panels), sharey="row" if share_y else False,
                        squeeze=False)
    systems = [s for s in SYSTEM_STYLE if s in set(frame["system"])]
    for row, part in enumerate(sets):
        for col, (heading, depth, selector) in enumerate(panels):
            ax = axes[row][col]
            chosen = frame[(frame["set"] == part)
                           & (frame[list(selector)] == pd.Series(selector)).all(axis=1)]
            _panel(ax, chosen, depth)
            if row == 0:
                ax.set_title(heading, fontsize=9)
            if row == len(sets) - 1:
                ax.set_xlabel("hidden layer")
            if col == 0:
                ax.set_ylabel(SET_LABEL.get(part, part))
    handles = [Line2D([], [], label=s, markersize=4, **SYSTEM_STYLE[s]) for s in systems]
    handles.append(Line2D([], [], label="network", **NETWORK_STYLE))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def _describe(dataset: str, activation: str, width: int, batchnorm: bool,
              depth: int | None = None) -> str:
    shape = f" {depth}x{width}" if depth is not None else f", width {width}"
    return f"{activation}{shape}, {'batch norm' if batchnorm else 'no batch norm'}, {dataset}"


def layers_figure(frame: pd.DataFrame, dataset: str, activation: str, width: int,
                  batchnorm: bool, state: str = "best") -> Figure:
    """Fig. 6.2-6.5: per-layer accuracy of each system, a column per depth, train and test."""
    rows = frame[(frame["dataset"] == dataset) & (frame["activation"] == activation)
                 & (frame["width"] == width) & (frame["batchnorm"] == batchnorm)
                 & (frame["state"] == state)]
    depths = sorted(rows["depth"].unique())
    panels = [(f"{d}x{width}", d, {"depth": d}) for d in depths]
    sets = [s for s in SET_LABEL if s in set(rows["set"])]
    return _grid_figure(panels, rows, sets, "Layers as classifiers, kept model: "
                        + _describe(dataset, activation, width, batchnorm)
                        + " (mean and s.e. over seeds)", share_y=True)


def state_heading(state: str) -> str:
    if state == "initial":
        return "untrained"
    if state == "best":
        return "kept model"
    return f"after epoch {state.removeprefix('epoch')}"


def epochs_figure(frame: pd.DataFrame, config_id: str) -> Figure:
    """Fig. 6.6/6.7: per-layer accuracy of each system in every saved state of one network."""
    rows = frame[frame["config"] == config_id]
    if rows.empty:
        raise ValueError(f"no layer-classifier results for {config_id}")
    first = rows.iloc[0]
    states = list(dict.fromkeys(rows["state"]))  # the metrics' order: initial, epochs, best
    panels = [(state_heading(s), int(first["depth"]), {"state": s}) for s in states]
    sets = [s for s in SET_LABEL if s in set(rows["set"])]
    return _grid_figure(panels, rows, sets, "Layers as classifiers during training: "
                        + _describe(first["dataset"], first["activation"], first["width"],
                                    first["batchnorm"], first["depth"])
                        + " (mean and s.e. over seeds; own y scale per "
                        "panel)", share_y=False)


def write_classifier_figures(frame: pd.DataFrame, epoch_configs: list[str],
                             folder: Path) -> list[Path]:
    """``layers_<dataset>_<activation>_w<width>_bn<bool>.png`` per group of depths and
    ``epochs_<config id>.png`` per id in ``epoch_configs``, into ``folder``."""
    written = []
    groups = frame[["dataset", "activation", "width", "batchnorm"]].drop_duplicates()
    for dataset, activation, width, batchnorm in groups.itertuples(index=False):
        name = f"layers_{dataset}_{activation}_w{width}_bn{str(batchnorm).lower()}.png"
        written.append(save_png(layers_figure(frame, dataset, activation, width, batchnorm),
                                folder / name))
    for config_id in epoch_configs:
        written.append(save_png(epochs_figure(frame, config_id),
                                folder / f"epochs_{config_id}.png"))
    return written
