"""The study report, ``reports/study.md``: what was run, what it measured, how that compares
with the seeds' reference values, and which of their qualitative findings the run reproduces.

Every function here is pure: it takes the stages' metrics already loaded (dicts of their JSON)
and returns markdown lines or values, so each rule can be tested on small hand-made dicts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import PurePosixPath
from typing import Any

from activation_study.params import get, require
from activation_study.study_tables import classifier_markdown, classifier_rows, layer_rows, pm

STAGE_ORDER = ("validate", "download", "split", "tune", "train", "extract_activations",
               "compute_metrics", "classify_layers", "plot_activations", "summarize", "plot",
               "plot_classifiers")
STATE_LABEL = {"initial": "untrained", "best": "trained"}
BN_LABEL = {False: "no BN", True: "BN"}
CONFIG_AXES = ("dataset", "activation", "depth", "width", "batchnorm")
COLLAPSE_RATIO = 0.1  # deepest layer's class-median spread below this share of layer 1's
ANALOGUES = {"mnist": ("mnist5k", "digits")}  # measured datasets shown beside a reference
NETWORK_FIGURES = {"class_medians.png": "class medians (activations)",
                   "class_medians_pre.png": "class medians (pre-activations)",
                   "histograms_initial.png": "histograms, untrained",
                   "histograms_best.png": "histograms, trained",
                   "node_activity.png": "node activity",
                   "class_activity_heatmap.png": "class activity",
                   "activation_probability_sorted.png": "activation probabilities",
                   "prelu_slopes.png": "PReLU slopes"}


def validate_report(params: dict[str, Any]) -> dict[str, float]:
    """The ``report`` keys: ``report.tolerance``, percentage points a measured value may
    differ from a seed's before the report marks it (on top of the seed's own s.e.)."""
    tolerance = get(params, "report.tolerance")
    ok = isinstance(tolerance, int | float) and not isinstance(tolerance, bool)
    require(ok and math.isfinite(tolerance) and 0 <= tolerance <= 100, "report.tolerance",
            tolerance, "percentage points, a number in [0, 100]")
    return {"tolerance": float(tolerance)}


# --- reference values of the seeds (STUDY.md, with the exact tables of 000 and 001) ----------

QUANTITIES = {
    "test_acc": "test accuracy, %",
    "sparsity_untrained": "layer sparsity, untrained, %",
    "sparsity_trained": "layer sparsity, trained, %",
    "dead_pct": "dead nodes, trained, % of hidden nodes",
}


@dataclass(frozen=True)
class Reference:
    """A value a seed reports (one, or one per hidden layer), with its s.e. where it gives one."""

    source: str
    dataset: str
    activation: str
    depth: int
    width: int
    batchnorm: bool
    quantity: str
    values: tuple[float, ...]
    se: tuple[float, ...] | None = None

    @property
    def key(self) -> tuple:
        return self.dataset, self.activation, self.depth, self.width, self.batchnorm


def _refs(source: str, dataset: str, quantity: str, depth: int,
          rows: dict[tuple[str, bool], tuple], width: int = 200) -> list[Reference]:
    """References of one table: ``rows[(activation, batchnorm)]`` = values, or (values, se)."""
    out = []
    for (activation, batchnorm), row in rows.items():
        values, se = row if isinstance(row[0], tuple) else (row, None)
        out.append(Reference(source, dataset, activation, depth, width, batchnorm, quantity,
                             values, se))
    return out


REFERENCES: tuple[Reference, ...] = tuple(
    _refs("001 §4.1 (Fig. 3.4)", "mnist", "test_acc", 4,
          {("relu", False): (98.6,), ("sigmoid", False): (98.18,),
           ("relu", True): (98.71,), ("sigmoid", True): (98.36,)})
    + _refs("001 §5.3", "mnist", "test_acc", 4, {("relu", False): (98.55,)})
    + _refs("001 §4.1 (Fig. 3.10)", "cifar10", "test_acc", 4,
            {("relu", False): (51.04,), ("sigmoid", False): (52.5,),
             ("relu", True): (54.03,), ("sigmoid", True): (53.03,)})
    + _refs("000 Table 1", "mnist", "sparsity_untrained", 4,
            {("relu", False): (49.22, 48.85, 48.45, 48.74),
             ("relu", True): (49.08, 49.70, 49.81, 49.15)})
    + _refs("000 Table 1", "mnist", "sparsity_trained", 4,
            {("relu", False): (80.40, 79.33, 81.93, 81.90),
             ("relu", True): (65.76, 56.67, 68.77, 69.12)})
    + _refs("000 Table 1", "cifar10", "sparsity_untrained", 4,
            {("relu", False): (51.07, 50.96, 50.73, 50.85),
             ("relu", True): (51.06, 50.75, 50.95, 50.81)})
    + _refs("000 Table 1", "cifar10", "sparsity_trained", 4,
            {("relu", False): (77.56, 76.55, 77.54, 77.14),
             ("relu", True): (58.53, 59.41, 57.43, 57.37)})
    + _refs("001 Table 5.1", "mnist", "dead_pct", 4,
            {("relu", False): (1.38,), ("relu", True): (2.38,),
             ("sigmoid", False): (1.5,), ("sigmoid", True): (2.87,)})
    + _refs("001 Table 5.1", "mnist", "dead_pct", 8,
            {("relu", False): (20.12,), ("relu", True): (3.93,),
             ("sigmoid", False): (10.5,), ("sigmoid", True): (8.81,)})
    + _refs("001 Table 5.2", "mnist", "sparsity_trained", 4, {
        ("relu", False): ((75.65, 75.52, 77.11, 78.91), (0.88, 0.65, 0.67, 0.66)),
        ("relu", True): ((62.86, 53.38, 65.71, 65.80), (0.53, 0.18, 0.44, 0.18)),
        ("sigmoid", False): ((55.41, 60.70, 56.41, 52.17), (0.78, 0.52, 1.22, 0.45)),
        ("sigmoid", True): ((33.25, 33.23, 34.39, 33.69), (0.94, 0.71, 1.14, 1.18))})
    + _refs("001 Table 5.2", "mnist", "sparsity_trained", 8, {
        ("relu", False): ((61.40, 61.89, 67.98, 61.73, 65.69, 68.79, 63.30, 67.72),
                          (4.51, 0.78, 3.26, 1.63, 5.42, 2.60, 7.08, 3.55)),
        ("relu", True): ((61.40, 61.89, 67.98, 61.73, 56.23, 55.23, 55.17, 53.35),
                         (0.82, 1.10, 0.26, 0.21, 0.61, 0.08, 0.83, 1.25)),
        ("sigmoid", False): ((36.10, 49.57, 46.59, 54.16, 56.19, 52.14, 41.82, 53.63),
                             (2.94, 1.88, 5.15, 6.38, 3.63, 4.11, 3.35, 1.82)),
        ("sigmoid", True): ((40.34, 40.96, 40.82, 40.04, 41.48, 40.46, 40.97, 41.98),
                            (0.34, 0.64, 0.61, 0.15, 0.49, 0.79, 0.31, 0.29))})
)

MEASURES: dict[str, Callable[[dict, dict], list[dict]]] = {
    "test_acc": lambda train, nodes: [train["test_acc"]],
    "sparsity_untrained": lambda train, nodes: layer_rows(nodes, "sparsity_pct")["initial"],
    "sparsity_trained": lambda train, nodes: layer_rows(nodes, "sparsity_pct")["best"],
    "dead_pct": lambda train, nodes: [nodes["states"]["best"]["train"]["network"]["dead_pct"]],
}


def differs(reference: float, seed_se: float | None, measured: float, tolerance: float) -> bool:
    """Whether a measured mean lies further from a seed's value than the seed's own s.e. or
    the tolerance, whichever is larger."""
    return abs(measured - reference) > max(seed_se or 0.0, tolerance)


# --- inputs -------------------------------------------------------------------------------


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
    with its stage ``kind`` added; ``figures`` only those that exist."""

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
    timings: list[dict] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.configs, key=config_key)


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


# --- formatting ----------------------------------------------------------------------------


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


# --- findings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    claim: str
    verdict: str
    evidence: list[str]
    figures: list[Figure] = field(default_factory=list)


VERDICT_PLURAL = {"holds": "hold", "partly holds": "hold in part", "does not hold": "do not hold",
                  "not covered": "are not covered by the run"}


def verdict(results: list[bool]) -> str:
    if not results:
        return "not covered"
    if all(results):
        return "holds"
    if not any(results):
        return "does not hold"
    return f"partly holds ({sum(results)} of {len(results)})"


def _finding(claim: str, checks: list[tuple[bool, str]], figures: list[Figure] | None = None,
             uncovered: str = "") -> Finding:
    evidence = [f"{text}: {'yes' if ok else 'no'}" for ok, text in checks] or [uncovered]
    return Finding(claim, verdict([ok for ok, _ in checks]), evidence, figures or [])


def pairs(configs: list[dict[str, Any]], axis: str) -> list[dict[Any, dict[str, Any]]]:
    """Configurations that differ only in ``axis``, as ``{value: config}`` with two or more
    values, in a fixed order."""
    groups: dict[tuple, dict[Any, dict[str, Any]]] = defaultdict(dict)
    for c in sorted(configs, key=config_key):
        groups[tuple(c[k] for k in CONFIG_AXES if k != axis)][c[axis]] = c
    return [g for _, g in sorted(groups.items()) if len(g) > 1]



def relu_sparser_after_training(inputs: StudyInputs) -> Finding:
    checks = []
    for c in inputs.ordered:
        if c["activation"] == "relu":
            before, after = (layer_mean(inputs.nodes[c["id"]], "sparsity_pct", s)
                             for s in ("initial", "best"))
            if before is not None and after is not None:
                checks.append((after > before, f"{c['id']}: {before:.2f} → {after:.2f} %"))
    return _finding("Trained ReLU layers are sparser than at initialisation (mean layer "
                    "sparsity, untrained → trained)", checks, uncovered="no ReLU network")


def relu_sparser_than_sigmoid(inputs: StudyInputs) -> Finding:
    checks = []
    for group in pairs(inputs.configs, "activation"):
        if {"relu", "sigmoid"} <= set(group):
            relu, sigmoid = (layer_mean(inputs.nodes[group[a]["id"]], "sparsity_pct", "best")
                             for a in ("relu", "sigmoid"))
            if relu is not None and sigmoid is not None:
                checks.append((relu > sigmoid, f"{describe(group['relu'], 'activation')}: "
                                               f"ReLU {relu:.2f} vs sigmoid {sigmoid:.2f} %"))
    return _finding("Trained ReLU layers are sparser than sigmoid layers (mean layer sparsity, "
                    "same dataset, depth, width and batch norm)", checks,
                    uncovered="no ReLU and sigmoid networks of the same shape")


def batchnorm_lowers_relu_sparsity(inputs: StudyInputs) -> Finding:
    checks = []
    for group in pairs([c for c in inputs.configs if c["activation"] == "relu"], "batchnorm"):
        off, on = group[False]["id"], group[True]["id"]
        sparsity = [layer_mean(inputs.nodes[i], "sparsity_pct", "best") for i in (off, on)]
        accuracy = [inputs.train[i]["test_acc"]["mean"] for i in (off, on)]
        if None not in sparsity:
            checks.append((sparsity[1] < sparsity[0] and accuracy[1] > accuracy[0],
                           f"{describe(group[False], 'batchnorm')}: sparsity "
                           f"{sparsity[0]:.2f} → {sparsity[1]:.2f} %, test accuracy "
                           f"{accuracy[0]:.2f} → {accuracy[1]:.2f} %"))
    return _finding("Batch norm lowers ReLU sparsity yet raises test accuracy (no BN → BN)",
                    checks, uncovered="no ReLU network trained both with and without batch norm")


def dead_nodes_grow_with_depth(inputs: StudyInputs) -> Finding:
    checks = []
    plain = [c for c in inputs.configs if c["activation"] == "relu" and not c["batchnorm"]]
    for group in pairs(plain, "depth"):
        dead = [inputs.nodes[c["id"]]["states"]["best"]["train"]["network"]["dead_pct"]["mean"]
                for _, c in sorted(group.items())]
        grows = all(b >= a for a, b in pairwise(dead)) and dead[-1] > dead[0]
        steps = " → ".join(f"{d:.2f} (d{depth})" for d, depth in zip(dead, sorted(group),
                                                                     strict=True))
        checks.append((grows, f"{describe(next(iter(group.values())), 'depth')}: {steps} %"))
    return _finding("Dead nodes grow with depth (ReLU without batch norm, trained, % of hidden "
                    "nodes; never fewer in a deeper net, more in the deepest)", checks,
                    uncovered="no ReLU networks without batch norm at two depths or more")


def median_spread_ratio(nodes: dict) -> float | None:
    """Untrained: the deepest layer's spread of class medians as a share of layer 1's."""
    spread = [s["mean"] for s in layer_rows(nodes, "class_median_spread")["initial"]]
    if None in spread or not spread[0]:
        return None
    return spread[-1] / spread[0]


def sigmoid_medians_collapse(inputs: StudyInputs) -> Finding:
    figures = [f for f in inputs.figures if f.path.endswith("/class_medians.png")
               and "-bnfalse/" in f.path]
    claim = ("Sigmoid class medians collapse onto each other in deep layers of an untrained "
             "net while ReLU ones stay apart (no BN, deepest net of the run; spread of class "
             "medians at the deepest layer as % of layer 1's, collapse below "
             f"{100 * COLLAPSE_RATIO:.0f} %)")
    deepest = max(inputs.grid["depths"])
    plain = [c for c in inputs.configs if not c["batchnorm"] and c["depth"] == deepest > 1]
    checks = []
    for group in pairs(plain, "activation"):
        if not {"relu", "sigmoid"} <= set(group):
            continue
        nodes = [inputs.nodes[group[a]["id"]] for a in ("relu", "sigmoid")]
        if any("class_median_spread" not in n["states"]["initial"]["train"]["layer_1"]
               for n in nodes):
            return Finding(claim, "not covered", ["the metrics have no class-median spread: "
                                                  "see the figures"], figures)
        relu, sigmoid = (median_spread_ratio(n) for n in nodes)
        if relu is not None and sigmoid is not None:
            checks.append((sigmoid < COLLAPSE_RATIO <= relu,
                           f"{describe(group['relu'], 'activation')}: sigmoid "
                           f"{100 * sigmoid:.2f} %, ReLU {100 * relu:.2f} %"))
    return _finding(claim, checks, figures, uncovered="no ReLU and sigmoid networks deeper "
                                                      "than one layer without batch norm")


def layers_reach_network(inputs: StudyInputs) -> Finding:
    deepest = max(inputs.grid["depths"])
    checks = []
    for c in inputs.ordered:
        if c["depth"] == deepest:
            test = inputs.classify[c["id"]]["states"]["best"]["test"]
            reached = {s: test["reaches_network"][s]["of_mean"] for s in ("discrete", "continuous")}
            text = ", ".join(f"{s} {'never' if r is None else f'layer {r}'}"
                             for s, r in reached.items())
            checks.append((None not in reached.values(),
                           f"{c['id']}: {text} of {deepest} (network "
                           f"{number(test['network']['mean'])} %)"))
    return _finding("In deep enough nets the later layers' discrete and continuous systems "
                    f"reach the network's own test accuracy (within {inputs.classifier_tolerance:g}"
                    f" pp; kept model, deepest nets of the run, first layer that does)", checks,
                    uncovered="no layer-classifier metrics")


def relu_trains_faster(inputs: StudyInputs) -> Finding:
    checks = []
    for group in pairs(inputs.configs, "activation"):
        if {"relu", "sigmoid"} <= set(group):
            epochs = {a: inputs.nodes[group[a]["id"]]["epochs_to_target"]
                      for a in ("relu", "sigmoid")}
            if epochs["relu"]["mean"] is None and epochs["sigmoid"]["mean"] is None:
                continue
            target = epochs["relu"]["target_train_acc"]
            faster = epochs["sigmoid"]["mean"] is None or (
                epochs["relu"]["mean"] is not None
                and epochs["relu"]["mean"] < epochs["sigmoid"]["mean"])
            text = ", ".join(f"{a} {'never' if e['mean'] is None else number(e['mean'])} "
                             f"({e['reached']} of {len(e['per_seed'])} seeds)"
                             for a, e in epochs.items())
            checks.append((faster, f"{describe(group['relu'], 'activation')}, {target:g} % "
                                   f"training accuracy: {text}"))
    return _finding("ReLU networks reach a training-accuracy target in fewer epochs than "
                    "sigmoid ones (seed 002)", checks,
                    uncovered="no ReLU and sigmoid networks of the same shape reached the target")


FINDINGS: tuple[Callable[[StudyInputs], Finding], ...] = (
    relu_sparser_after_training, relu_sparser_than_sigmoid, batchnorm_lowers_relu_sparsity,
    dead_nodes_grow_with_depth, sigmoid_medians_collapse, layers_reach_network,
    relu_trains_faster)


def findings_section(findings: list[Finding]) -> list[str]:
    lines = ["## What the study found", "",
             "The qualitative findings of the seeds (STUDY.md), each checked automatically "
             "against this run's means over seeds (training set unless stated). A finding "
             "holds where every comparison of the run agrees with it; the comparisons are "
             "listed under it.", ""]
    for index, f in enumerate(findings, 1):
        lines.append(f"{index}. **{f.verdict}**: {f.claim}.")
        lines += [f"   - {e}" for e in f.evidence]
        lines += [f"   - figure: [{g.caption}](../{g.path})" for g in f.figures]
    return lines


# --- sections ------------------------------------------------------------------------------


def run_section(inputs: StudyInputs) -> list[str]:
    grid, configs = inputs.grid, inputs.ordered
    seeds = sorted({tuple(inputs.train[c["id"]]["seeds"]) for c in configs})
    lines = ["## What was run", ""]
    for dataset in sorted(grid["datasets"]):
        split = inputs.splits.get(dataset)
        sizes = "" if split is None else ": " + ", ".join(
            f"{count(p['count'])} {part}" for part, p in split["parts"].items()) + (
            f" images ({split['input_dim']} inputs, {split['num_classes']} classes)")
        lines.append(f"- dataset `{dataset}`{sizes}")
    lines += [f"- activations: {', '.join(sorted(grid['activations']))}",
              f"- hidden layers: {', '.join(map(str, sorted(grid['depths'])))}, of width "
              f"{', '.join(map(str, sorted(grid['widths'])))}",
              "- batch norm: " + ", ".join(BN_LABEL[b] for b in sorted(grid["batchnorm"])),
              f"- {len(configs)} configurations (every combination), each trained with seeds "
              + "; ".join(", ".join(map(str, s)) for s in seeds)
              + " (mean ± s.e. over seeds everywhere below: std with ddof=1 over √n)"]
    recipe = inputs.recipe
    if recipe:
        lines.append(f"- training: Adam, {recipe['epochs']} epochs, mini-batch "
                     f"{recipe['batch_size']}, learning rate × {recipe['lr_decay']:g} after "
                     "every epoch; the parameters of the epoch of best validation accuracy are "
                     "kept and tested")
    lines.append("- initial learning rate: " + learning_rates(inputs))
    devices: dict[str, int] = defaultdict(int)
    for c in configs:
        devices[str(inputs.train[c["id"]]["config"]["device"])] += 1
    lines.append("- device: " + ", ".join(f"{d} ({n} configurations)"
                                          for d, n in sorted(devices.items())))
    return lines + ["", *timing_section(inputs.timings)]


def learning_rates(inputs: StudyInputs) -> str:
    """Per activation, the rate every configuration trained with, or their range."""
    rates: dict[str, set[float]] = defaultdict(set)
    for c in inputs.configs:
        rates[c["activation"]].add(inputs.train[c["id"]]["config"]["lr"])
    parts = [f"{a} {min(r):g}" if len(r) == 1 else f"{a} {min(r):g} to {max(r):g}"
             for a, r in sorted(rates.items())]
    tuned = any(record["mode"] == "auto" for record in inputs.tune.values())
    return "; ".join(parts) + (" (searched per configuration, see [Learning rates]"
                               "(#learning-rates))" if tuned else "")


def timing_section(records: list[dict]) -> list[str]:
    lines = ["### Wall time per stage", ""]
    records = [r for r in records if r["kind"] != "report"]  # this stage's is of an older run
    if not records:
        return lines + ["No run logs under `logs/timing/` (a fresh clone, or no stage has run "
                        "in this workspace): wall times are not reported."]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by_kind[r["kind"]].append(float(r["seconds"]))
    order = {kind: i for i, kind in enumerate(STAGE_ORDER)}
    kinds = sorted(by_kind, key=lambda k: (order.get(k, len(order)), k))
    rows = [[k, str(len(by_kind[k])), f"{sum(by_kind[k]):.1f}",
             f"{sum(by_kind[k]) / len(by_kind[k]):.1f}", f"{max(by_kind[k]):.1f}"] for k in kinds]
    every = [s for k in kinds for s in by_kind[k]]
    rows.append(["**all**", str(len(every)), f"{sum(every):.1f}",
                 f"{sum(every) / len(every):.1f}", f"{max(every):.1f}"])
    last = max(str(r["finished"]) for r in records)
    return lines + [
        "From the run logs `logs/timing/<stage>/<name>.json`: the last run of each stage in "
        "this workspace (not versioned with the results; a stage DVC skipped keeps the log of "
        "its earlier run), from the stage's entry point to its outputs written; Python "
        "start-up, imports and DVC's bookkeeping add a few seconds per stage. "
        f"Latest finish: {last}.", "",
        *table(["stage", "stages logged", "total, s", "mean, s", "max, s"], rows)]


def tune_section(inputs: StudyInputs) -> list[str]:
    if not inputs.tune:
        return []
    rows = []
    for c in inputs.ordered:
        used = inputs.train[c["id"]]["config"]["lr"]
        record = inputs.tune.get(c["id"])
        if record is None:
            rows.append([c["id"], "no record", f"{used:g}", "", ""])
            continue
        stale = "" if math.isclose(record["lr"], used) else f" ⚠ trained with {used:g}"
        validation = record["validation_acc"]
        rows.append([c["id"], record["mode"], f"{record['lr']:g}{stale}",
                     "" if validation is None else pm(validation), searched(record["search"])])
    return ["## Learning rates", "",
            "Chosen per configuration by the tune stage: `auto` searches rates by validation "
            "accuracy over the seeds (short runs), `fixed` takes the rate of params.yaml.", "",
            *table(["configuration", "mode", "learning rate", "validation accuracy, %",
                    "searched: rate (validation %) by round"], rows)]


def searched(search: list[dict]) -> str:
    rounds: dict[int, list[str]] = defaultdict(list)
    for s in sorted(search, key=lambda s: (s["round"], -s["lr"])):
        rounds[s["round"]].append(f"{s['lr']:g} ({number(s['validation_acc']['mean'])})")
    return "; ".join(f"round {r}: {', '.join(v)}" for r, v in sorted(rounds.items()))


def accuracy_section(inputs: StudyInputs) -> list[str]:
    lines = ["## Test accuracy", "",
             "Accuracy (%) of the kept parameters (the epoch of best validation accuracy), mean "
             "± s.e. over seeds; the generalisation gap is training minus test accuracy."]
    bns = sorted(inputs.grid["batchnorm"])
    for dataset in sorted(inputs.grid["datasets"]):
        configs = {config_key(c): c for c in inputs.ordered if c["dataset"] == dataset}
        shapes = sorted({k[1:4] for k in configs})
        lines += ["", f"### {dataset}", "", *table(
            ["activation", "depth", "width", *(f"test, {BN_LABEL[b]}" for b in bns)],
            ([a, str(d), str(w), *(pm(inputs.train[configs[(dataset, a, d, w, b)]["id"]]
                                      ["test_acc"]) for b in bns)] for a, d, w in shapes))]
        lines += ["", *table(
            ["configuration", "test", "validation", "train", "gap (train − test)", "best epoch"],
            ([c["id"], *(pm(inputs.train[c["id"]][k]) for k in
                         ("test_acc", "validation_acc", "train_acc", "generalisation_gap",
                          "best_epoch"))] for c in configs.values()))]
    return lines + figure_lines(inputs, "accuracy")


def layer_table(inputs: StudyInputs, key: str, factor: float = 1.0,
                network: bool = False) -> list[str]:
    """Rows configuration x state (untrained, trained), a column per hidden layer (training
    set), and with ``network`` the value over the whole network first."""
    depth = max(inputs.grid["depths"])
    rows = []
    for c in inputs.ordered:
        nodes = inputs.nodes[c["id"]]
        for state, per_layer in layer_rows(nodes, key).items():
            cells = [pm(scaled(s, factor)) for s in per_layer] + [""] * (depth - len(per_layer))
            total = [pm(nodes["states"][state]["train"]["network"][key])] if network else []
            rows.append([c["id"], STATE_LABEL[state], *total, *cells])
    return table(["configuration", "state", *(["network"] if network else []),
                  *(f"layer {i}" for i in range(1, depth + 1))], rows)


def has_layer_key(inputs: StudyInputs, key: str) -> bool:
    return all(key in inputs.nodes[c["id"]]["states"]["best"]["train"]["layer_1"]
               for c in inputs.configs)


def nodes_section(inputs: StudyInputs) -> list[str]:
    lines = ["## Sparsity and dead nodes", "",
             "### Layer sparsity, % (Table 1 of 000, Table 5.2 of 001)", "",
             "Per live node the percentage of training samples for which it is off, averaged "
             "over the layer's live nodes (dead nodes excluded).", "",
             *layer_table(inputs, "sparsity_pct"), "",
             "### Dead nodes, % (Table 5.1 of 001)", "",
             "Nodes off for every training sample, as % of the layer's nodes and of the "
             "network's hidden nodes.", "", *layer_table(inputs, "dead_pct", network=True)]
    lines += figure_lines(inputs, "sparsity")
    lines += ["", "## Activation probability (seed 004)", "",
              "Activation probability of a unit: % of training samples for which it is not "
              "saturated (ReLU family: output > 0; sigmoid: output in (0.025, 0.975); tanh: "
              "|output| < 0.95). Lifetime sparsity of a layer is the mean of its units' "
              "activation probabilities, dispersion their standard deviation (both in % here; "
              "seed 004 writes fractions).", "", "### Lifetime sparsity, %", "",
              *layer_table(inputs, "lifetime_sparsity", 100.0), "", "### Dispersion, %", "",
              *layer_table(inputs, "dispersion", 100.0)]
    if has_layer_key(inputs, "saturation"):
        lines += ["", "### Saturation, % (seeds 002, 003)", "",
                  "Sample-node pairs outside the band above, %.",
                  "", *layer_table(inputs, "saturation", 100.0)]
    return lines + epochs_section(inputs)


def epochs_section(inputs: StudyInputs) -> list[str]:
    rows = []
    for c in inputs.ordered:
        e = inputs.nodes[c["id"]]["epochs_to_target"]
        rows.append([c["id"], f"{e['target_train_acc']:g}", pm(e),
                     f"{e['reached']} of {len(e['per_seed'])}"])
    return ["", "## Epochs to reach the training-accuracy target (seed 002)", "",
            "First epoch whose training accuracy reaches the target, mean ± s.e. over the seeds "
            "that reach it.", "",
            *table(["configuration", "target, %", "epochs", "seeds that reached it"], rows)]


def classifier_section(inputs: StudyInputs) -> list[str]:
    study = {"classifier_tolerance": inputs.classifier_tolerance,
             "layer_classifiers": {c["id"]: classifier_rows(inputs.classify[c["id"]])
                                   for c in inputs.ordered}}
    lines = classifier_markdown(inputs.ordered, study, max(inputs.grid["depths"]))
    return lines[1:] + figure_lines(inputs, "classifiers")  # summarize's opens with a blank


def reference_rows(inputs: StudyInputs) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the references whose configuration the run covers (one per value, marked where
    it differs) and of the others (one per reference, beside an analogue, never marked)."""
    by_key = {config_key(c): c["id"] for c in inputs.configs}
    covered, other = [], []
    for ref in REFERENCES:
        quantity = QUANTITIES[ref.quantity]
        label = (f"{ref.dataset} {ref.activation} {ref.depth}x{ref.width} "
                 f"{BN_LABEL[ref.batchnorm]}")
        cid = by_key.get(ref.key)
        if cid is None:
            other.append([ref.source, label, quantity, seed_values(ref), *analogue(inputs, ref)])
            continue
        measured = MEASURES[ref.quantity](inputs.train[cid], inputs.nodes[cid])
        for index, (value, stat) in enumerate(zip(ref.values, measured, strict=True)):
            seed_se = None if ref.se is None else ref.se[index]
            allowed = max(seed_se or 0.0, inputs.tolerance)
            mean = stat["mean"]
            mark = "" if mean is None else (
                "⚠ differs" if differs(value, seed_se, mean, inputs.tolerance) else "within")
            covered.append([ref.source, f"`{cid}`", quantity,
                            str(index + 1) if len(ref.values) > 1 else "",
                            pm({"mean": value, "se": seed_se}), pm(stat),
                            "n/a" if mean is None else f"{mean - value:+.2f}",
                            f"{allowed:.2f}", mark])
    return covered, other


def seed_values(ref: Reference) -> str:
    se = ref.se or (None,) * len(ref.values)
    return ", ".join(pm({"mean": v, "se": s}) for v, s in zip(ref.values, se, strict=True))


def analogue(inputs: StudyInputs, ref: Reference) -> list[str]:
    """The same network on the first analogue dataset the run has: its id and values."""
    by_key = {config_key(c): c["id"] for c in inputs.configs}
    for dataset in ANALOGUES.get(ref.dataset, ()):
        cid = by_key.get((dataset, *ref.key[1:]))
        if cid is not None:
            stats = MEASURES[ref.quantity](inputs.train[cid], inputs.nodes[cid])
            return [f"`{cid}`", ", ".join(pm(s) for s in stats)]
    return ["none in this run", ""]


def reference_section(inputs: StudyInputs) -> list[str]:
    covered, other = reference_rows(inputs)
    epochs = inputs.recipe.get("epochs")
    lines = ["## Reference values of the seeds", "",
             "The values the seeds report (STUDY.md; exact tables of 000 and 001) set beside "
             "this run's where it trains the same configuration: same dataset, activation, "
             "depth, width and batch norm. The seeds trained 300 epochs on the full datasets"
             + ("" if epochs is None else f"; this run trains {epochs}") + ". A value is marked "
             "⚠ where the measured mean differs from the seed's by more than the larger of the "
             f"seed's own s.e. and the tolerance `report.tolerance` = {inputs.tolerance:g} pp "
             "(column *allowed*).", ""]
    if covered:
        lines += table(["source", "configuration", "quantity", "layer", "seed", "measured",
                        "difference", "allowed", ""], covered)
        flagged = sum(row[-1].startswith("⚠") for row in covered)
        lines += ["", f"{flagged} of {len(covered)} values differ by more than allowed."]
    else:
        lines.append("This run covers none of the seeds' configurations.")
    if other:
        lines += ["", "### Not covered by this run", "",
                  "References whose configuration this run does not train, beside the same "
                  "network trained here on a different dataset where there is one (`mnist5k`: "
                  "5 000 MNIST digits; `digits`: scikit-learn's 8x8 digits). These are **not "
                  "like-for-like**: other data, other amounts of it, another number of epochs; "
                  "they are shown for orientation and never marked.", "",
                  *table(["source", "seed's configuration", "quantity", "seed", "analogue here",
                          "measured on the analogue"], other)]
    return lines + ["", "Not compared: Fashion-MNIST validation ~90 % (001; no configuration "
                        "given), 004 Table 2 (a CNN) and 003 Table 1 (an Inception network on "
                        "CIFAR-100): no network of this pipeline matches them."]


def network_figures_section(inputs: StudyInputs) -> list[str]:
    figures = [f for f in inputs.figures if f.section == "network"]
    if not figures:
        return []
    by_config: dict[str, list[Figure]] = defaultdict(list)
    for f in figures:
        by_config[PurePosixPath(f.path).parent.name].append(f)
    return ["## Figures of single networks (001 ch. 4-5, seed 004)", "",
            "One seed's network per configuration in `plots.configs`.", "",
            *table(["configuration", "figures"],
                   ([cid, ", ".join(f"[{f.caption}](../{f.path})" for f in fs)]
                    for cid, fs in sorted(by_config.items())))]


def summary_lines(inputs: StudyInputs, findings: list[Finding]) -> list[str]:
    """The opening paragraph: best accuracy per activation, findings and references tallied."""
    best = {}
    for c in inputs.ordered:
        stat = inputs.train[c["id"]]["test_acc"]
        if c["activation"] not in best or stat["mean"] > best[c["activation"]][1]["mean"]:
            best[c["activation"]] = (c, stat)
    tally: dict[str, int] = defaultdict(int)
    for f in findings:
        tally[f.verdict.split(" (")[0]] += 1
    covered, _ = reference_rows(inputs)
    flagged = sum(row[-1].startswith("⚠") for row in covered)
    references = (f"{flagged} of the {len(covered)} reference values of the seeds that this run "
                  "covers differ from it by more than allowed" if covered else
                  "this run trains none of the configurations the seeds report values for "
                  "(they are set beside the closest analogue instead)")
    return ["Best test accuracy: " + "; ".join(
                f"{a} {pm(stat)} % ({describe(c, 'activation')})" for a, (c, stat) in
                sorted(best.items())) + ". "
            + "Of the seeds' qualitative findings, " + ", ".join(
                f"{n} of {len(findings)} {VERDICT_PLURAL[v]}" for v, n in sorted(tally.items()))
            + f"; {references}."]


def render_report(inputs: StudyInputs) -> str:
    """The markdown of reports/study.md."""
    findings = [check(inputs) for check in FINDINGS]
    lines = ["# Activation functions in MLPs: study report", "",
             "Written by `python -m stages.report` from the metrics of this workspace "
             "(`metrics/`) and the figures under `plots/`; every number is read from them. "
             "The method is that of the seeds (STUDY.md, README).", "",
             *summary_lines(inputs, findings), "",
             *run_section(inputs), "", *findings_section(findings)]
    for section in (tune_section, accuracy_section, nodes_section, classifier_section,
                    reference_section, network_figures_section):
        part = section(inputs)
        lines += ["", *part] if part else []
    return "\n".join(lines) + "\n"
