"""The seeds' qualitative findings, each a rule checked against the measured means."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from activation_study.results.report.common import (
    CONFIG_AXES,
    Figure,
    StudyInputs,
    config_key,
    describe,
    layer_mean,
    number,
)
from activation_study.results.tables import layer_rows, pm

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


def relu_outperforms_sigmoid(inputs: StudyInputs) -> Finding:
    checks = []
    for group in pairs(inputs.configs, "activation"):
        if {"relu", "sigmoid"} <= set(group):
            relu, sigmoid = (inputs.train[group[a]["id"]]["test_acc"] for a in ("relu", "sigmoid"))
            checks.append((relu["mean"] > sigmoid["mean"],
                           f"{describe(group['relu'], 'activation')}: ReLU {pm(relu)} vs "
                           f"sigmoid {pm(sigmoid)} %"))
    return _finding("ReLU networks reach a higher test accuracy than sigmoid networks of the "
                    "same shape (001 §3.4: \"the ReLU networks again outperform the sigmoidal "
                    "networks\"; kept parameters)", checks,
                    uncovered="no ReLU and sigmoid networks of the same shape")


SYSTEMS = ("discrete", "continuous")


def snapshot_epochs(classify: dict) -> list[int]:
    """The snapshot epochs a classify_layers record holds (states ``epoch<N>``)."""
    return sorted(int(state.removeprefix("epoch")) for state in classify["states"]
                  if state.startswith("epoch"))


def layer_accuracies(classify: dict, state: str, system: str) -> list[float]:
    """Test accuracy of ``system`` per hidden layer, mean over seeds."""
    test = classify["states"][state]["test"]
    return [test[f"layer_{k}"][system]["mean"]
            for k in range(1, sum(key.startswith("layer_") for key in test) + 1)]


def first_layer_barely_changes(inputs: StudyInputs) -> Finding:
    checks = []
    for c in inputs.ordered:
        classify = inputs.classify[c["id"]]
        epochs = snapshot_epochs(classify)
        if c["depth"] < 2 or not epochs:
            continue
        for system in SYSTEMS:
            early, kept = (layer_accuracies(classify, state, system)
                           for state in (f"epoch{epochs[0]}", "best"))
            first, last = kept[0] - early[0], kept[-1] - early[-1]
            checks.append((abs(first) < abs(last),
                           f"{c['id']}, {system}: layer 1 {early[0]:.1f} → {kept[0]:.1f}, layer "
                           f"{c['depth']} {early[-1]:.1f} → {kept[-1]:.1f} %"))
    return _finding("The first hidden layer's classifier accuracy barely changes during "
                    "training while the last layer's does (001 §6.3.2, Figs. 6.6-6.7; test "
                    "set, first snapshot epoch → kept model: layer 1 changes less than the "
                    "last hidden layer)", checks,
                    uncovered="no snapshot epochs, or no network deeper than one layer")


def continuous_rises_with_depth(inputs: StudyInputs) -> Finding:
    tolerance = inputs.classifier_tolerance
    checks = []
    for c in inputs.ordered:
        if c["depth"] < 2:
            continue
        accuracy = layer_accuracies(inputs.classify[c["id"]], "best", "continuous")
        gradual = all(b >= a - tolerance for a, b in pairwise(accuracy))
        checks.append((gradual and accuracy[-1] > accuracy[0],
                       f"{c['id']}: " + " → ".join(f"{a:.1f}" for a in accuracy) + " %"))
    return _finding(f"The continuous system's accuracy rises gradually with depth (001 §6.3.2; "
                    f"kept model, test set: every layer within {tolerance:g} pp of the one "
                    f"before or above it, the last above the first)", checks,
                    uncovered="no network deeper than one layer")


def sigmoid_discrete_settles_by_epoch_10(inputs: StudyInputs) -> Finding:
    checks = []
    for c in inputs.ordered:
        classify = inputs.classify[c["id"]]
        epochs = snapshot_epochs(classify)
        early, late = [e for e in epochs if e < 10], [e for e in epochs if e >= 10]
        if c["activation"] != "sigmoid" or c["depth"] < 3 or not early or not late:
            continue
        kept = layer_accuracies(classify, "best", "discrete")
        curves = {e: layer_accuracies(classify, f"epoch{e}", "discrete") for e in epochs}
        distance = {e: sum(abs(a - b) for a, b in zip(curve, kept, strict=True)) / len(kept)
                    for e, curve in curves.items()}
        steps = [b - a for a, b in pairwise(curves[early[0]])]
        checks.append((any(d > 0 for d in steps) and any(d < 0 for d in steps),
                       f"{c['id']}: irregular across layers at epoch {early[0]} (rises and "
                       f"falls): " + " → ".join(f"{a:.1f}" for a in curves[early[0]]) + " %"))
        checks.append((max(distance[e] for e in late) < min(distance[e] for e in early),
                       f"{c['id']}: mean distance from the kept model's curve, per epoch: "
                       + ", ".join(f"{e}: {distance[e]:.2f}" for e in epochs) + " pp"))
    return _finding("A sigmoid network's discrete system is irregular across layers in the "
                    "first epochs and close to its final shape from epoch 10 on (001 §6.3.2, "
                    "Fig. 6.7; test set; closer to the kept model's curve at every snapshot from "
                    "epoch 10 than at any before)", checks,
                    uncovered="no sigmoid network of 3 layers or more with snapshot epochs both "
                              "before and from 10")


FINDINGS: tuple[Callable[[StudyInputs], Finding], ...] = (
    relu_sparser_after_training, relu_sparser_than_sigmoid, batchnorm_lowers_relu_sparsity,
    dead_nodes_grow_with_depth, sigmoid_medians_collapse, layers_reach_network,
    relu_trains_faster, relu_outperforms_sigmoid, first_layer_barely_changes,
    continuous_rises_with_depth, sigmoid_discrete_settles_by_epoch_10)


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
