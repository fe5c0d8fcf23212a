"""The seeds' qualitative findings, each a rule checked against the measured means."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from activation_study.study_report.common import (
    CONFIG_AXES,
    Figure,
    StudyInputs,
    config_key,
    describe,
    layer_mean,
    number,
)
from activation_study.study_tables import layer_rows

COLLAPSE_RATIO = 0.1  # deepest layer's class-median spread below this share of layer 1's

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
