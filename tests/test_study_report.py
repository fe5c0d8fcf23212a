"""The study report: reference values, findings, tables, optional inputs, the stage."""

import json
import random
from pathlib import Path

import pytest
import yaml

from activation_study.common.configs import grid_configs
from activation_study.params.schema import InvalidParams, check_group
from activation_study.params.validated import ParamError, load_params
from activation_study.results.report.common import StudyInputs, candidate_figures
from activation_study.results.report.findings import (
    FINDINGS,
    batchnorm_lowers_relu_sparsity,
    continuous_rises_with_depth,
    dead_nodes_grow_with_depth,
    first_layer_barely_changes,
    layers_reach_network,
    relu_outperforms_sigmoid,
    relu_sparser_after_training,
    relu_sparser_than_sigmoid,
    relu_trains_faster,
    sigmoid_discrete_settles_by_epoch_10,
    sigmoid_medians_collapse,
    verdict,
)
from activation_study.results.report.references import REFERENCES, differs, reference_rows
from activation_study.results.report.render import render_report, timing_section
from activation_study.results.tables import pm
from stages.report import load_inputs, read_timings

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")


def stat(mean: float | None, se: float | None = 0.1) -> dict:
    return {"mean": mean, "se": se, "per_seed": [mean, mean]}


def nodes_for(depth: int, untrained: float = 50.0, trained: float = 70.0, dead: float = 1.0,
              spread: tuple[float, float] = (0.1, 0.05), epochs: float | None = 5.0) -> dict:
    """compute_metrics JSON: every layer alike, class-median spread from layer 1 to the last."""
    def layers(sparsity: float, state: str) -> dict:
        out = {}
        for k in range(1, depth + 1):
            share = spread[0] if k == 1 else spread[1]
            out[f"layer_{k}"] = {
                "sparsity_pct": stat(sparsity), "dead_pct": stat(dead if state == "best" else 0.0),
                "lifetime_sparsity": stat(1 - sparsity / 100), "dispersion": stat(0.2),
                "saturation": stat(sparsity / 100), "class_median_spread": stat(share)}
        network = {"dead_pct": stat(dead if state == "best" else 0.0)}
        return out | {"network": network}

    return {"epochs_to_target": {"target_train_acc": 99.0, "reached": 0 if epochs is None else 2,
                                 "mean": epochs, "se": None if epochs is None else 0.5,
                                 "per_seed": [-1, -1] if epochs is None else [5, 5]},
            "states": {"initial": {"train": layers(untrained, "initial")},
                       "best": {"train": layers(trained, "best")}}}


def train_for(test: float, lr: float = 0.003) -> dict:
    return {"config": {"lr": lr, "device": "cpu"}, "seeds": [0, 1], "test_acc": stat(test),
            "validation_acc": stat(test + 1), "train_acc": stat(100.0),
            "generalisation_gap": stat(100.0 - test), "best_epoch": stat(7.0)}


def classify_for(depth: int, reach: int | None = 2) -> dict:
    part = {f"layer_{k}": {s: stat(90.0 + k) for s in ("discrete", "continuous")}
            for k in range(1, depth + 1)}
    part |= {"network": stat(95.0),
             "reaches_network": {s: {"of_mean": reach, "per_seed": [reach, reach]}
                                 for s in ("discrete", "continuous")}}
    return {"systems": ["discrete", "continuous"], "states": {"best": {"train": part,
                                                                       "test": part}}}


def inputs_for(grid: dict, nodes: dict | None = None, train: dict | None = None,
               classify: dict | None = None, **kwargs) -> StudyInputs:
    """Inputs for ``grid``, each metric defaulted, with the given ones by id replacing them."""
    configs = grid_configs(grid)
    return StudyInputs(
        grid=grid, configs=configs,
        train={c["id"]: train_for(95.0) for c in configs} | (train or {}),
        nodes={c["id"]: nodes_for(c["depth"]) for c in configs} | (nodes or {}),
        classify={c["id"]: classify_for(c["depth"]) for c in configs} | (classify or {}),
        **kwargs)


def grid(datasets=("mnist5k",), activations=("relu", "sigmoid"), depths=(4,), widths=(200,),
         batchnorm=(False,)) -> dict:
    return {"datasets": list(datasets), "activations": list(activations),
            "depths": list(depths), "widths": list(widths), "batchnorm": list(batchnorm)}


# --- params and the flag rule -----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1.0, 2.5, 100])
def test_tolerance_accepts_percentage_points(value):
    assert check_group({"report": {"tolerance": value, "wall_times": False}},
                       "report").model_dump() == {"tolerance": float(value), "wall_times": False}


@pytest.mark.parametrize("params", [{"report": {"tolerance": -0.1}}, {"report": {"tolerance": 101}},
                                    {"report": {"tolerance": "1"}}, {"report": {"tolerance": True}},
                                    {"report": {"tolerance": float("nan")}}, {"report": {}}, {}])
def test_tolerance_rejects_other_values_naming_the_key(params):
    with pytest.raises(InvalidParams, match="report.tolerance"):
        check_group(params, "report")


def test_a_value_differs_beyond_the_larger_of_seed_se_and_tolerance():
    assert differs(98.6, None, 97.5, tolerance=1.0)  # 1.1 > 1.0
    assert not differs(98.6, None, 97.7, tolerance=1.0)  # 0.9
    assert not differs(55.0, 1.5, 56.2, tolerance=1.0)  # the seed's s.e. 1.5 allows 1.2
    assert differs(55.0, 0.5, 56.2, tolerance=1.0)
    assert differs(50.0, None, 50.01, tolerance=0.0)


def test_references_encode_the_seed_tables():
    table1 = [r for r in REFERENCES if r.source == "000 Table 1" and r.dataset == "mnist"
              and r.quantity == "sparsity_trained" and not r.batchnorm]
    assert [r.values for r in table1] == [(80.40, 79.33, 81.93, 81.90)]
    table52 = {(r.activation, r.depth, r.batchnorm): r for r in REFERENCES
               if r.source == "001 Table 5.2"}
    assert table52["sigmoid", 4, True].se == (0.94, 0.71, 1.14, 1.18)
    assert all(len(r.se) == len(r.values) == r.depth for r in table52.values())
    dead = {(r.activation, r.depth, r.batchnorm): r.values[0] for r in REFERENCES
            if r.quantity == "dead_pct"}
    assert dead["relu", 8, False] == 20.12 and dead["sigmoid", 4, True] == 2.87


# --- reference values against the run --------------------------------------------------------


def test_references_appear_only_for_configurations_the_run_covers():
    g = grid(datasets=("mnist",), activations=("relu",))
    cid = "mnist-relu-d4-w200-bnfalse"
    covered, other = reference_rows(inputs_for(
        g, train={cid: train_for(97.0)}, nodes={cid: nodes_for(4, untrained=49.0, trained=80.0)}))
    assert {row[1] for row in covered} == {f"`{cid}`"}
    # test accuracy (98.6, 98.55), Table 1 untrained and trained, Table 5.1, Table 5.2 by layer
    assert len(covered) == 2 + 4 + 4 + 1 + 4
    test_rows = [r for r in covered if r[2] == "test accuracy, %"]
    assert [(r[4], r[5], r[6], r[8]) for r in test_rows] == [
        ("98.60", "97.00 ± 0.10", "-1.60", "⚠ differs"),
        ("98.55", "97.00 ± 0.10", "-1.55", "⚠ differs")]
    untrained = [r for r in covered if r[2] == "layer sparsity, untrained, %"]
    assert [r[8] for r in untrained] == ["within"] * 4  # 49.0 against 48.45-49.22
    table52 = [r for r in covered if r[0] == "001 Table 5.2"]
    assert [r[3] for r in table52] == ["1", "2", "3", "4"]
    assert table52[0][4] == "75.65 ± 0.88" and table52[0][7] == "1.00"
    assert all(r[8] == "⚠ differs" for r in table52)  # 80 against 75.65-78.91, allowed 1
    assert not any(cid in " ".join(r) for r in other)
    assert len(other) == len(REFERENCES) - 6  # 2 test accuracies, 2 of Table 1, 5.1, 5.2


def test_the_seed_se_widens_what_is_allowed():
    g = grid(datasets=("mnist",), activations=("sigmoid",))
    cid = "mnist-sigmoid-d4-w200-bnfalse"
    covered, _ = reference_rows(inputs_for(g, nodes={cid: nodes_for(4, trained=57.5)}))
    layer3 = next(r for r in covered if r[0] == "001 Table 5.2" and r[3] == "3")
    assert layer3[4:] == ["56.41 ± 1.22", "57.50 ± 0.10", "+1.09", "1.22", "within"]
    layer4 = next(r for r in covered if r[0] == "001 Table 5.2" and r[3] == "4")
    assert layer4[6:] == ["+5.33", "1.00", "⚠ differs"]


def test_uncovered_references_sit_beside_an_analogue_unmarked():
    g = grid(datasets=("mnist5k",), activations=("relu",))
    inputs = inputs_for(g)
    covered, other = reference_rows(inputs)
    assert covered == []
    table1 = [r for r in other if r[0] == "000 Table 1" and r[1] == "mnist relu 4x200 no BN"]
    assert [r[4] for r in table1] == ["`mnist5k-relu-d4-w200-bnfalse`"] * 2
    assert table1[1][5] == ", ".join(["70.00 ± 0.10"] * 4)
    cifar = [r for r in other if r[1].startswith("cifar10")]
    assert cifar and all(r[4] == "none in this run" for r in cifar)
    deep = [r for r in other if "8x200" in r[1]]  # no 8-layer net here: no analogue
    assert deep and all(r[4] == "none in this run" for r in deep)
    text = render_report(inputs)
    section = text.split("### Not covered by this run")[1]
    assert "not like-for-like" in section and "⚠" not in section
    assert "This run covers none of the seeds' configurations." in text


# --- findings ---------------------------------------------------------------------------------


def test_verdict_counts_agreeing_comparisons():
    assert verdict([]) == "not covered"
    assert verdict([True, True]) == "holds"
    assert verdict([False]) == "does not hold"
    assert verdict([True, False, True]) == "partly holds (2 of 3)"


def test_relu_sparser_after_training():
    g = grid(activations=("relu",), depths=(2, 4))
    finding = relu_sparser_after_training(inputs_for(g, nodes={
        "mnist5k-relu-d2-w200-bnfalse": nodes_for(2, untrained=50.0, trained=45.0),
        "mnist5k-relu-d4-w200-bnfalse": nodes_for(4, untrained=50.0, trained=70.0)}))
    assert finding.verdict == "partly holds (1 of 2)"
    assert finding.evidence == ["mnist5k-relu-d2-w200-bnfalse: 50.00 → 45.00 %: no",
                                "mnist5k-relu-d4-w200-bnfalse: 50.00 → 70.00 %: yes"]
    assert relu_sparser_after_training(inputs_for(grid(activations=("sigmoid",)))).verdict == (
        "not covered")


def test_relu_sparser_than_sigmoid_compares_the_same_shape():
    g = grid(batchnorm=(False, True))
    finding = relu_sparser_than_sigmoid(inputs_for(g, nodes={
        "mnist5k-sigmoid-d4-w200-bnfalse": nodes_for(4, trained=60.0),
        "mnist5k-sigmoid-d4-w200-bntrue": nodes_for(4, trained=75.0)}))
    assert finding.verdict == "partly holds (1 of 2)"
    assert finding.evidence[0] == "mnist5k d4 w200 no BN: ReLU 70.00 vs sigmoid 60.00 %: yes"


def test_batchnorm_must_lower_sparsity_and_raise_accuracy():
    g = grid(activations=("relu",), batchnorm=(False, True))
    off, on = "mnist5k-relu-d4-w200-bnfalse", "mnist5k-relu-d4-w200-bntrue"
    nodes = {off: nodes_for(4, trained=70.0), on: nodes_for(4, trained=55.0)}
    holds = batchnorm_lowers_relu_sparsity(inputs_for(
        g, nodes=nodes, train={off: train_for(97.0), on: train_for(98.0)}))
    assert holds.verdict == "holds"
    assert holds.evidence == ["mnist5k relu d4 w200: sparsity 70.00 → 55.00 %, test accuracy "
                              "97.00 → 98.00 %: yes"]
    lower_accuracy = batchnorm_lowers_relu_sparsity(inputs_for(
        g, nodes=nodes, train={off: train_for(98.0), on: train_for(97.0)}))
    assert lower_accuracy.verdict == "does not hold"
    higher_sparsity = batchnorm_lowers_relu_sparsity(inputs_for(
        g, nodes={off: nodes_for(4, trained=55.0), on: nodes_for(4, trained=70.0)},
        train={off: train_for(97.0), on: train_for(98.0)}))
    assert higher_sparsity.verdict == "does not hold"


def test_dead_nodes_grow_with_depth():
    g = grid(activations=("relu",), depths=(2, 4, 6), batchnorm=(False, True))
    ids = [f"mnist5k-relu-d{d}-w200-bnfalse" for d in (2, 4, 6)]

    def finding(dead: tuple[float, ...]):
        return dead_nodes_grow_with_depth(inputs_for(g, nodes={
            cid: nodes_for(d, dead=x) for cid, d, x in zip(ids, (2, 4, 6), dead, strict=True)}))

    grows = finding((1.0, 1.0, 5.0))
    assert grows.verdict == "holds"
    assert grows.evidence == ["mnist5k relu w200 no BN: 1.00 (d2) → 1.00 (d4) → 5.00 (d6) %: yes"]
    assert finding((1.0, 6.0, 5.0)).verdict == "does not hold"
    assert finding((2.0, 2.0, 2.0)).verdict == "does not hold"
    assert dead_nodes_grow_with_depth(inputs_for(grid(activations=("relu",)))).verdict == (
        "not covered")


def test_sigmoid_medians_collapse_in_the_deepest_untrained_net():
    g = grid(depths=(2, 6))
    relu, sigmoid = "mnist5k-relu-d6-w200-bnfalse", "mnist5k-sigmoid-d6-w200-bnfalse"
    finding = sigmoid_medians_collapse(inputs_for(g, nodes={
        relu: nodes_for(6, spread=(0.1, 0.05)), sigmoid: nodes_for(6, spread=(0.04, 0.0002))}))
    assert finding.verdict == "holds"
    assert finding.evidence == ["mnist5k d6 w200 no BN: sigmoid 0.50 %, ReLU 50.00 %: yes"]
    both_collapse = sigmoid_medians_collapse(inputs_for(g, nodes={
        relu: nodes_for(6, spread=(0.1, 0.001)), sigmoid: nodes_for(6, spread=(0.04, 0.0002))}))
    assert both_collapse.verdict == "does not hold"


def test_medians_without_a_spread_metric_point_to_the_figure():
    g = grid()
    nodes = {c["id"]: nodes_for(4) for c in grid_configs(g)}
    for n in nodes.values():
        for layer in n["states"]["initial"]["train"].values():
            layer.pop("class_median_spread", None)
    figure = candidate_figures(grid_configs(g), ["mnist5k-sigmoid-d4-w200-bnfalse"])
    medians = [f for f in figure if f.path.endswith("/class_medians.png")]
    finding = sigmoid_medians_collapse(inputs_for(g, nodes=nodes, figures=medians))
    assert finding.verdict == "not covered"
    assert "see the figures" in finding.evidence[0] and finding.figures == medians


def test_layers_reach_the_network_in_the_deepest_nets():
    g = grid(depths=(2, 4))
    holds = layers_reach_network(inputs_for(g))
    assert holds.verdict == "holds" and len(holds.evidence) == 2  # the 4-layer nets only
    assert holds.evidence[0] == ("mnist5k-relu-d4-w200-bnfalse: discrete layer 2, continuous "
                                 "layer 2 of 4 (network 95.00 %): yes")
    never = layers_reach_network(inputs_for(g, classify={
        "mnist5k-sigmoid-d4-w200-bnfalse": classify_for(4, reach=None)}))
    assert never.verdict == "partly holds (1 of 2)"
    assert "discrete never, continuous never" in never.evidence[1]


def test_relu_trains_faster_counts_a_sigmoid_that_never_reaches_the_target():
    g = grid(depths=(2, 4))
    finding = relu_trains_faster(inputs_for(g, nodes={
        "mnist5k-sigmoid-d2-w200-bnfalse": nodes_for(2, epochs=3.0),
        "mnist5k-sigmoid-d4-w200-bnfalse": nodes_for(4, epochs=None)}))
    assert finding.verdict == "partly holds (1 of 2)"
    assert finding.evidence[1] == ("mnist5k d4 w200 no BN, 99 % training accuracy: relu 5.00 "
                                   "(2 of 2 seeds), sigmoid never (0 of 2 seeds): yes")


def curves_for(curves: dict[str, dict[str, list[float]]]) -> dict:
    """classify_layers JSON with the given test accuracies per state and system, by layer."""
    states = {}
    for state, systems in curves.items():
        depth = len(next(iter(systems.values())))
        part = {f"layer_{k}": {s: stat(values[k - 1]) for s, values in systems.items()}
                for k in range(1, depth + 1)}
        states[state] = {"train": part, "test": part}
    return {"systems": list(next(iter(curves.values()))), "states": states}


def test_relu_outperforms_sigmoid_on_test_accuracy():
    finding = relu_outperforms_sigmoid(inputs_for(grid(depths=(2, 4)), train={
        "mnist5k-sigmoid-d2-w200-bnfalse": train_for(94.0),
        "mnist5k-sigmoid-d4-w200-bnfalse": train_for(96.0)}))
    assert finding.verdict == "partly holds (1 of 2)"
    assert finding.evidence[0] == ("mnist5k d2 w200 no BN: ReLU 95.00 ± 0.10 vs sigmoid "
                                   "94.00 ± 0.10 %: yes")


def test_first_layer_barely_changes_while_the_last_does():
    g = grid(activations=("relu",), depths=(3,))
    cid = "mnist5k-relu-d3-w200-bnfalse"
    stable = {"epoch1": {"discrete": [80, 70, 60], "continuous": [81, 71, 61]},
              "epoch10": {"discrete": [80, 80, 80], "continuous": [81, 81, 81]},
              "best": {"discrete": [81, 85, 88], "continuous": [82, 86, 89]}}
    finding = first_layer_barely_changes(inputs_for(g, classify={cid: curves_for(stable)}))
    assert finding.verdict == "holds" and len(finding.evidence) == 2  # one per system
    assert finding.evidence[0] == (f"{cid}, discrete: layer 1 80.0 → 81.0, layer 3 60.0 → "
                                   "88.0 %: yes")
    stable["best"]["continuous"] = [95, 86, 62]  # layer 1 moves 14 pp, layer 3 1 pp
    moved = first_layer_barely_changes(inputs_for(g, classify={cid: curves_for(stable)}))
    assert moved.verdict == "partly holds (1 of 2)"
    no_snapshots = first_layer_barely_changes(inputs_for(g))
    assert no_snapshots.verdict == "not covered"


def test_continuous_rises_gradually_within_the_tolerance():
    g = grid(activations=("relu",), depths=(3,))
    cid = "mnist5k-relu-d3-w200-bnfalse"

    def run(curve):
        classify = curves_for({"best": {"discrete": curve, "continuous": curve}})
        return continuous_rises_with_depth(inputs_for(g, classify={cid: classify},
                                                      classifier_tolerance=1.0))

    assert run([80, 79.5, 85]).verdict == "holds"  # a 0.5 pp dip is within 1 pp
    assert run([80, 78, 85]).verdict == "does not hold"
    assert run([80, 80, 80]).verdict == "does not hold"  # flat: no rise
    assert run([80, 79.5, 85]).evidence == [f"{cid}: 80.0 → 79.5 → 85.0 %: yes"]


def test_sigmoid_discrete_is_irregular_early_and_settles_from_epoch_10():
    g = grid(activations=("sigmoid",), depths=(4,))
    cid = "mnist5k-sigmoid-d4-w200-bnfalse"
    curves = {"epoch1": [70, 60, 75, 65], "epoch5": [80, 78, 82, 79],
              "epoch10": [85, 86, 87, 88], "epoch30": [86, 87, 88, 85],
              "best": [86, 87, 88, 89]}

    def run(curves):
        classify = curves_for({s: {"discrete": c, "continuous": c} for s, c in curves.items()})
        return sigmoid_discrete_settles_by_epoch_10(inputs_for(g, classify={cid: classify}))

    finding = run(curves)
    assert finding.verdict == "holds"
    assert finding.evidence[1] == (f"{cid}: mean distance from the kept model's curve, per "
                                   "epoch: 1: 20.00, 5: 7.75, 10: 1.00, 30: 1.00 pp: yes")
    monotone = run(curves | {"epoch1": [60, 65, 70, 75]})
    assert monotone.verdict == "partly holds (1 of 2)"
    assert run({s: c for s, c in curves.items() if s != "epoch1" and s != "epoch5"}).verdict \
        == "not covered"


# --- tables and optional inputs ---------------------------------------------------------------


def test_accuracy_table_has_a_column_per_batch_norm_setting():
    g = grid(activations=("relu",), batchnorm=(False, True))
    text = render_report(inputs_for(g, train={
        "mnist5k-relu-d4-w200-bnfalse": train_for(97.0),
        "mnist5k-relu-d4-w200-bntrue": train_for(98.0)}))
    assert "| activation | depth | width | test, no BN | test, BN |" in text
    assert "| relu | 4 | 200 | 97.00 ± 0.10 | 98.00 ± 0.10 |" in text
    assert ("| mnist5k-relu-d4-w200-bntrue | 98.00 ± 0.10 | 99.00 ± 0.10 | 100.00 ± 0.10 | "
            "2.00 ± 0.10 | 7.00 ± 0.10 |") in text
    assert "| mnist5k-relu-d4-w200-bnfalse | trained | 70.00 ± 0.10 |" in text  # sparsity
    assert "| mnist5k-relu-d4-w200-bnfalse | trained | 1.00 ± 0.10 | 1.00 ± 0.10 |" in text  # dead
    assert "| mnist5k-relu-d4-w200-bnfalse | trained | 30.00 ± 10.00 |" in text  # lifetime, %


def test_wall_times_by_stage_kind_or_one_line_when_absent():
    records = [{"kind": "train", "stage": "train@a", "seconds": 10.0, "finished": "2026-01-02"},
               {"kind": "train", "stage": "train@b", "seconds": 30.0, "finished": "2026-01-03"},
               {"kind": "split", "stage": "split@m", "seconds": 2.0, "finished": "2026-01-01"},
               {"kind": "report", "stage": "report", "seconds": 9.0, "finished": "2026-01-04"}]
    lines = timing_section(records)
    assert "| split | 1 | 2.0 | 2.0 | 2.0 |" in lines
    assert "| train | 2 | 40.0 | 20.0 | 30.0 |" in lines
    assert lines.index("| split | 1 | 2.0 | 2.0 | 2.0 |") < lines.index(
        "| train | 2 | 40.0 | 20.0 | 30.0 |")  # pipeline order
    assert "| **all** | 3 | 42.0 | 14.0 | 30.0 |" in lines
    assert any("Latest finish: 2026-01-03" in line for line in lines)
    absent = timing_section(records[-1:])  # the report's own, of an earlier run
    assert len(absent) == 3 and "No run logs" in absent[-1]


def test_learning_rates_section_only_with_tune_records():
    g = grid()
    assert "## Learning rates" not in render_report(inputs_for(g))
    auto = {"config": "mnist5k-relu-d4-w200-bnfalse", "mode": "auto", "lr": 0.003, "rounds": 2,
            "epochs": 5, "candidates": 4, "validation_acc": stat(95.1, 0.2),
            "search": [{"round": 1, "lr": 0.001, "validation_acc": stat(93.2)},
                       {"round": 1, "lr": 0.01, "validation_acc": stat(94.1)},
                       {"round": 2, "lr": 0.003, "validation_acc": stat(95.1)}]}
    fixed = {"config": "mnist5k-sigmoid-d4-w200-bnfalse", "mode": "fixed", "lr": 0.01,
             "rounds": 0, "epochs": 0, "candidates": 1, "validation_acc": None, "search": []}
    text = render_report(inputs_for(g, tune={auto["config"]: auto, fixed["config"]: fixed}))
    assert ("| mnist5k-relu-d4-w200-bnfalse | auto | 0.003 | 95.10 ± 0.20 | round 1: 0.01 "
            "(94.10), 0.001 (93.20); round 2: 0.003 (95.10) |") in text
    assert "| mnist5k-sigmoid-d4-w200-bnfalse | fixed | 0.01 ⚠ trained with 0.003 |  |  |" in text
    assert "searched per configuration, see [Learning rates](#learning-rates)" in text
    only_fixed = render_report(inputs_for(g, tune={fixed["config"]: fixed}))
    assert "## Learning rates" in only_fixed and "searched per configuration" not in only_fixed


PORTABLE = {"cpu_numerics": "portable", "level": "x86-64-v3",
            "kernels": {"torch": "AVX2", "mkl": "COMPATIBLE,STRICT", "numpy": "X86_V3",
                        "blas": ["openblas Haswell"]},
            "threads": 1, "versions": {"torch": "2.13.0+cpu", "numpy": "2.4.6"},
            "device": {"type": "cpu"}}


def fingerprinted(block: dict | None, test: float = 95.0) -> dict:
    """train_for() with ``block`` as its numerics (None: written before they were recorded)."""
    return train_for(test) | ({} if block is None else {"numerics": block})


def run_lines(text: str) -> list[str]:
    return text.split("## What was run")[1].split("###")[0].splitlines()


def test_the_numeric_environment_shared_by_every_configuration():
    g = grid()
    same = {c["id"]: fingerprinted(PORTABLE) for c in grid_configs(g)}
    lines = run_lines(render_report(inputs_for(g, train=same)))
    assert ("- numeric environment: portable CPU numerics (x86-64-v3), 1 thread, CPU, the same "
            "for every configuration (what decides the bits of the numbers: "
            "docs/reproducibility.md)") in lines
    assert lines.index("- device: cpu (2 configurations)") + 1 == lines.index(
        next(line for line in lines if line.startswith("- numeric environment")))
    unrecorded = run_lines(render_report(inputs_for(g)))
    assert any(line.startswith("- numeric environment: not recorded (") for line in unrecorded)


def test_differing_numeric_environments_list_the_fields_that_differ():
    g = grid(depths=(2, 4))
    native = PORTABLE | {"cpu_numerics": "native", "level": "native",
                         "kernels": PORTABLE["kernels"] | {"torch": "AVX512"}}
    train = {c["id"]: fingerprinted(PORTABLE) for c in grid_configs(g)}
    train["mnist5k-sigmoid-d4-w200-bnfalse"] = fingerprinted(native)
    train["mnist5k-sigmoid-d2-w200-bnfalse"] = fingerprinted(None)
    lines = run_lines(render_report(inputs_for(g, train=train)))
    start = next(i for i, line in enumerate(lines) if line.startswith("- numeric environment"))
    assert lines[start] == (
        "- numeric environment: not the same for every configuration (not recorded for some), "
        "so a difference between them may come from the machine, not the configuration (what "
        "decides the bits of the numbers: docs/reproducibility.md); 2 of 4 configurations: "
        "portable CPU numerics (x86-64-v3), 1 thread, CPU; the others differ in:")
    assert lines[start + 1:start + 3] == [
        "  - not recorded (`mnist5k-sigmoid-d2-w200-bnfalse`)",
        "  - `cpu_numerics` portable → native, `level` x86-64-v3 → native, `kernels.torch` "
        "AVX2 → AVX512 (`mnist5k-sigmoid-d4-w200-bnfalse`)"]
    train["mnist5k-sigmoid-d2-w200-bnfalse"] = fingerprinted(PORTABLE)
    recorded = run_lines(render_report(inputs_for(g, train=train)))
    assert any(line.startswith("- numeric environment: differs between configurations, so")
               for line in recorded)


def test_figures_are_named_from_the_grid_and_linked_from_reports():
    g = grid(batchnorm=(False, True))
    figures = candidate_figures(grid_configs(g), ["mnist5k-relu-d4-w200-bnfalse"])
    paths = {f.path for f in figures}
    assert {"plots/plot/test_accuracy_vs_depth_mnist5k.png",
            "plots/plot/learning_curves_mnist5k_w200.png",
            "plots/plot/sparsity_dead_nodes_mnist5k.png",
            "plots/plot_classifiers/layers_mnist5k_sigmoid_w200_bntrue.png",
            "plots/plot_classifiers/epochs_mnist5k-relu-d4-w200-bnfalse.png",
            "plots/plot_activations/mnist5k-relu-d4-w200-bnfalse/class_medians.png"} <= paths
    assert not any("sigmoid-d4-w200-bnfalse/" in p for p in paths)  # not in plots.configs
    depth_figure = [f for f in figures if "test_accuracy_vs_depth" in f.path]
    text = render_report(inputs_for(g, figures=depth_figure))
    assert "![mnist5k: test accuracy against depth](../plots/plot/test_accuracy_vs_depth_" \
           "mnist5k.png)" in text
    assert "learning_curves" not in text and "## Figures of single networks" not in text


def test_the_report_is_deterministic_whatever_the_order_of_configurations():
    g = grid(depths=(2, 4), batchnorm=(False, True))
    inputs = inputs_for(g)
    shuffled = list(inputs.configs)
    random.Random(0).shuffle(shuffled)
    assert shuffled != inputs.configs
    reordered = StudyInputs(**{**inputs.__dict__, "configs": shuffled})
    assert render_report(inputs) == render_report(reordered)


# --- the stage --------------------------------------------------------------------------------


def test_a_missing_metrics_file_names_it_and_its_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = grid(activations=("relu",))
    cid = "mnist5k-relu-d4-w200-bnfalse"
    (tmp_path / "metrics/train").mkdir(parents=True)
    (tmp_path / f"metrics/train/{cid}.json").write_text(json.dumps(train_for(95.0)))
    params = load_params(ROOT / "tests/tiny_params.yaml")
    params["grid"], params["plots"]["configs"] = g, []
    with pytest.raises(ParamError, match=rf"metrics/compute_metrics/{cid}\.json is missing.*"
                                         "compute_metrics"):
        load_inputs(params)


def test_timing_logs_are_read_by_stage_kind_skipping_broken_ones(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train/a.json").write_text(json.dumps(
        {"stage": "train@a", "seconds": 1.5, "finished": "2026-11-23T16:00:00+00:00"}))
    (tmp_path / "train/b.json").write_text('{"stage": "train@b", "seco')
    (tmp_path / "train/c.json").write_text(json.dumps({"stage": "train@c"}))
    assert read_timings(tmp_path) == [{"stage": "train@a", "seconds": 1.5,
                                       "finished": "2026-11-23T16:00:00+00:00", "kind": "train"}]
    assert read_timings(tmp_path / "absent") == []


def committed_params() -> dict:
    """The report stage's parameters as dvc.lock records them (those of the committed metrics;
    params.yaml may hold a preset not run yet), over the tests' own file for the other keys."""
    params = load_params(TINY_PARAMS)
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    for key, value in lock["stages"]["report"]["params"]["params.yaml"].items():
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[last] = value
    return params


def test_report_of_the_committed_metrics(monkeypatch):
    monkeypatch.chdir(ROOT)
    params = committed_params()
    inputs = load_inputs(params)
    text = render_report(inputs)
    assert text.startswith("# Activation functions in MLPs: study report\n")
    assert text == render_report(load_inputs(params))
    for config in inputs.configs:
        assert f"| {config['id']} | {pm(inputs.train[config['id']]['test_acc'])} |" in text
    for dataset, split in inputs.splits.items():
        assert f"dataset `{dataset}`: " in text
        assert f"{split['parts']['test']['count']:,}".replace(",", " ") + " test" in text
    findings = text.split("## What the study found")[1].split("\n## ")[0]
    numbered = [line.split(". ", 1)[0] for line in findings.splitlines()
                if line.split(". ", 1)[0].isdigit()]
    assert numbered == [str(k) for k in range(1, len(FINDINGS) + 1)]
    links = [part.split(")")[0] for part in text.split("](../")[1:]]
    assert links and all((ROOT / link).is_file() for link in links)
    assert "plots/plot/test_accuracy_vs_depth_" + inputs.grid["datasets"][0] in text
    covered, other = reference_rows(inputs)
    if "mnist" not in inputs.grid["datasets"]:
        assert covered == [] and "### Not covered by this run" in text
    if "mnist5k" in inputs.grid["datasets"] and 4 in inputs.grid["depths"]:
        assert any(r[4] == "`mnist5k-relu-d4-w200-bnfalse`" for r in other)


def test_the_report_is_a_function_of_its_inputs_unless_wall_times_are_asked_for(
        monkeypatch, tmp_path):
    """report.wall_times off (the default): the run logs, new on every run, do not reach the
    report, so a rerun on the same metrics writes the same bytes; on: their section appears."""
    monkeypatch.chdir(ROOT)
    params = committed_params()
    params["report"]["wall_times"] = False
    before = render_report(load_inputs(params))
    assert "### Wall time per stage" not in before
    log = tmp_path / "logs" / "timing" / "train" / "x.json"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"stage": "train@x", "seconds": random.random(),
                               "finished": "2026-01-01T00:00:00+00:00"}))
    logs = tmp_path / "logs" / "timing"
    monkeypatch.setattr("stages.report.read_timings", lambda: read_timings(logs))
    assert render_report(load_inputs(params)) == before
    params["report"]["wall_times"] = True
    timed = render_report(load_inputs(params))
    assert "### Wall time per stage" in timed and "| train | 1 |" in timed
