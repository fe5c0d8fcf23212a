"""Shared by the report modules: its inputs, the figures it may cite, markdown helpers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from activation_study.results.tables import layer_rows

STAGE_ORDER = ("validate", "download", "split", "tune", "train", "extract_activations",
               "compute_metrics", "classify_layers", "plot_activations", "summarize", "plot",
               "plot_classifiers")
BN_LABEL = {False: "no BN", True: "BN"}
CONFIG_AXES = ("dataset", "activation", "depth", "width", "batchnorm")
NETWORK_FIGURES = {"class_medians.png": "class medians (activations)",
                   "class_medians_pre.png": "class medians (pre-activations)",
                   "histograms_initial.png": "histograms, untrained",
                   "histograms_best.png": "histograms, trained",
                   "node_activity.png": "node activity",
                   "class_activity_heatmap.png": "class activity",
                   "activation_probability_sorted.png": "activation probabilities",
                   "prelu_slopes.png": "PReLU slopes"}


@dataclass(frozen=True)
class Figure:
    """A committed PNG (path from the repository root) and the report section citing it."""

    section: str
    caption: str
    path: str


@dataclass(frozen=True)
class StudyInputs:
    """Everything the report reads, loaded. ``train``, ``nodes`` and ``classify`` map a
    configuration id to its metrics/train, metrics/compute_metrics and metrics/classify_layers
    JSON; ``tune`` (metrics/tune) may hold only some ids; ``timings`` are the run logs, each
    with its stage ``kind`` added (None: report.wall_times is off); ``figures`` only those
    that exist."""

    grid: dict[str, list]
    configs: list[dict[str, Any]]
    train: dict[str, dict]
    nodes: dict[str, dict]
    classify: dict[str, dict]
    splits: dict[str, dict] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    tolerance: float = 1.0
    classifier_tolerance: float = 1.0
    tune: dict[str, dict] = field(default_factory=dict)
    timings: list[dict] | None = field(default_factory=list)  # None: no wall-time section
    figures: list[Figure] = field(default_factory=list)

    @property
    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.configs, key=config_key)

    @property
    def id_of(self) -> dict[tuple, str]:
        """Configuration id by its ``config_key``."""
        return {config_key(c): c["id"] for c in self.configs}


def config_key(config: dict[str, Any]) -> tuple:
    return tuple(config[axis] for axis in CONFIG_AXES)


def candidate_figures(configs: list[dict[str, Any]], plot_configs: list[str]) -> list[Figure]:
    """Every figure the plot stages write for this grid (stages/plot.py, plot_classifiers.py,
    plot_activations.py); the caller keeps those that exist."""
    figures = []
    for dataset in sorted({c["dataset"] for c in configs}):
        figures.append(Figure("accuracy", f"{dataset}: test accuracy against depth",
                              f"plots/plot/test_accuracy_vs_depth_{dataset}.png"))
        for width in sorted({c["width"] for c in configs if c["dataset"] == dataset}):
            figures.append(Figure("accuracy", f"{dataset}, width {width}: learning curves",
                                  f"plots/plot/learning_curves_{dataset}_w{width}.png"))
        figures.append(Figure("sparsity", f"{dataset}: layer sparsity and dead nodes",
                              f"plots/plot/sparsity_dead_nodes_{dataset}.png"))
    groups = sorted({(c["dataset"], c["activation"], c["width"], c["batchnorm"])
                     for c in configs})
    for dataset, activation, width, bn in groups:
        figures.append(Figure(
            "classifiers", f"{dataset}, {activation}, width {width}, {BN_LABEL[bn]}: layers as "
            "classifiers", f"plots/plot_classifiers/layers_{dataset}_{activation}_w{width}_"
            f"bn{str(bn).lower()}.png"))
    for cid in sorted(plot_configs):
        figures.append(Figure("classifiers", f"{cid}: layers as classifiers during training",
                              f"plots/plot_classifiers/epochs_{cid}.png"))
        figures += [Figure("network", caption, f"plots/plot_activations/{cid}/{name}")
                    for name, caption in NETWORK_FIGURES.items()
                    if name != "prelu_slopes.png" or "-prelu-" in cid]
    return figures


def table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def count(n: int) -> str:
    """Thousands separated by a space, as the seeds write them (55 000)."""
    return f"{n:,}".replace(",", " ")


def scaled(stat: dict, factor: float) -> dict:
    return {k: None if stat.get(k) is None else stat[k] * factor for k in ("mean", "se")}


def image(figure: Figure) -> str:
    """A markdown image linked relative to reports/."""
    return f"![{figure.caption}](../{figure.path})"


def figure_lines(inputs: StudyInputs, section: str) -> list[str]:
    return [line for f in inputs.figures if f.section == section for line in ("", image(f))]


def layer_mean(nodes: dict, key: str, state: str) -> float | None:
    """Mean over a network's hidden layers of ``key``'s mean over seeds (training set)."""
    means = [s["mean"] for s in layer_rows(nodes, key)[state] if s["mean"] is not None]
    return sum(means) / len(means) if means else None


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def describe(config: dict[str, Any], *drop: str) -> str:
    """A short label of a configuration without the keys in ``drop``."""
    parts = {"dataset": config["dataset"], "activation": config["activation"],
             "depth": f"d{config['depth']}", "width": f"w{config['width']}",
             "batchnorm": BN_LABEL[config["batchnorm"]]}
    return " ".join(v for k, v in parts.items() if k not in drop)
