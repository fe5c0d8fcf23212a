"""The headline metrics and the compare command, on hand-made metric files with known answers."""

import json
import math

import pytest
from fsspec.implementations.local import LocalFileSystem
from scipy import stats

from activation_study.results import compare as cmp
from activation_study.results.headline import STAGES, TRAIN_QUANTITIES, config_headline, quantities

SEEDS = [0, 1, 2]


def stat(values):
    mean = sum(values) / len(values)
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))
    return {"mean": round(mean, 4), "se": round(se, 4), "per_seed": list(values)}


def details(test=(90.0, 92.0, 94.0), sparsity=(80.0, 81.0, 82.0), lr=0.003, depth=2):
    """One configuration's metrics of every headline stage, shaped like the stages write them."""
    keys = ("test_acc", "validation_acc", "generalisation_gap", "best_epoch")
    per_seed = {str(s): {"test_acc": test[i], "validation_acc": 95.0 + i,
                         "generalisation_gap": 100.0 - test[i], "best_epoch": 10 + i}
                for i, s in enumerate(SEEDS)}
    train = {"seeds": SEEDS, "per_seed": per_seed,
             **{k: {kk: v for kk, v in stat([per_seed[str(s)][k] for s in SEEDS]).items()
                    if kk != "per_seed"} for k in keys}}
    layers = {f"layer_{k}": {"sparsity_pct": stat([v - k for v in sparsity])}
              for k in range(1, depth + 1)}
    nodes = {"states": {"best": {"train": {**layers,
                                           "network": {"dead_pct": stat([0.0, 0.0, 0.0])}}}}}
    classify = {"states": {"best": {"test": {f"layer_{k}": {"continuous": stat([88.0, 89.0, 90.0]),
                                                            "discrete": stat([80.0, 81, 82])}
                                             for k in range(1, depth + 1)}}}}
    return {"tune": {"lr": lr}, "train": train, "compute_metrics": nodes,
            "classify_layers": classify}


def test_headline_holds_the_documented_numbers_only():
    headline = config_headline(details(depth=3))
    assert headline == {
        "lr": 0.003,
        "test_acc": {"mean": 92.0, "se": 1.1547},
        "validation_acc": {"mean": 96.0},
        "generalisation_gap": {"mean": 8.0},
        "best_epoch": {"mean": 11.0},
        "sparsity_pct": {"layer_1": {"mean": 80.0}, "layer_2": {"mean": 79.0},
                         "layer_3": {"mean": 78.0}},
        "network_dead_pct": {"mean": 0.0},
        "continuous_test_acc": {"layer_3": {"mean": 89.0}},  # the last hidden layer
    }


def test_quantities_carry_the_per_seed_values():
    train = {q.key: q for q in quantities("train", details()["train"])}
    assert train[("test_acc",)].per_seed == (90.0, 92.0, 94.0)
    assert train[("best_epoch",)].per_seed == (10, 11, 12)
    assert quantities("tune", {"lr": 0.01})[0].is_setting
    no_test = {"states": {"best": {"train": {}}}}
    assert quantities("classify_layers", no_test) == []  # extracted without the test set


def test_welch_verdict_matches_the_formula():
    a = quantities("train", details(test=(1.0, 2.0, 3.0))["train"])[0]
    b = quantities("train", details(test=(4.0, 5.0, 6.0))["train"])[0]
    changed, text, p = cmp.verdict(a, b, alpha=0.05)
    # means 2 and 5, both variances 1: t = 3 / sqrt(2/3), Welch's df = 4
    expected = 2 * stats.t.sf(3 / math.sqrt(2 / 3), 4)
    assert changed and p == pytest.approx(expected, rel=1e-9)
    assert p == pytest.approx(0.0213, abs=1e-4)
    assert text == "beyond seed noise"
    changed, text, p = cmp.verdict(a, b, alpha=0.01)
    assert text == "within seed noise"


def test_small_shift_is_within_seed_noise_and_equal_values_unchanged():
    a = details(test=(90.0, 92.0, 94.0))
    b = details(test=(91.0, 93.0, 95.0))
    result = cmp.compare({"x": a}, {"x": b})
    test_row = next(r for r in result.rows if r.label.startswith("test accuracy"))
    assert test_row.changed and test_row.verdict == "within seed noise" and test_row.p_value > 0.5
    # only the quantities computed from the test accuracy moved
    assert {r.label for r in result.changed} == {"test accuracy (%)", "generalisation gap (pp)"}


def test_no_spread_over_seeds_and_single_seed():
    q = quantities("compute_metrics", details()["compute_metrics"])[-1]  # dead nodes, all 0
    moved = quantities("compute_metrics", {"states": {"best": {"train": {
        "network": {"dead_pct": stat([1.0, 1.0, 1.0])}}}}})[-1]
    assert cmp.verdict(q, moved, 0.05)[1] == "beyond seed noise (no spread over seeds)"
    flat = quantities("compute_metrics", {"states": {"best": {"train": {
        "network": {"dead_pct": stat([93.6, 93.6, 93.6])}}}}})[-1]
    assert cmp._side(flat) == "93.60 ± 0.00"  # not ± 1e-14 from floating-point summation
    assert cmp.verdict(q, q, 0.05) == (False, "unchanged", None)
    one = quantities("train", {"seeds": [0], "per_seed": {"0": {
        "test_acc": 1, "validation_acc": 1, "generalisation_gap": 1, "best_epoch": 1}},
        **{k: {"mean": 1, "se": None} for k in TRAIN_QUANTITIES}})
    other = quantities("train", details()["train"])
    assert cmp.verdict(one[0], other[0], 0.05)[1] == "fewer than 2 seeds: no test"


def test_added_removed_and_rate_change_render(tmp_path):
    a = {"kept": details(), "gone": details()}
    b = {"kept": details(lr=0.006, test=(95.0, 96.0, 97.0)), "new": details()}
    result = cmp.compare(a, b)
    assert result.added == ["new"] and result.removed == ["gone"]
    text = cmp.render(result, "main", "branch")
    assert "Added in B: new" in text and "Removed in B: gone" in text
    assert "0.003" in text and "0.006" in text and "× 2" in text  # the rate doubled
    assert "92.00 ± 1.15" in text and "96.00 ± 0.58" in text and "+4.00" in text
    markdown = cmp.render(result, "main", "branch", markdown=True)
    assert markdown.startswith("## Results") and "| kept " in markdown
    assert "sparsity (%), layer 1" not in markdown  # unchanged: shown only with --all
    assert "sparsity (%), layer 1" in cmp.render(result, "a", "b", show_all=True)


def test_read_side_reads_every_stage_file(tmp_path):
    for cid in ("cfg-a", "cfg-b"):
        for stage, metrics in details().items():
            path = tmp_path / "metrics" / stage / f"{cid}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(metrics))
    (tmp_path / "metrics" / "tune" / "cfg-a.json").unlink()  # a stage without its file
    side = cmp.read_side(LocalFileSystem(), str(tmp_path))
    assert sorted(side) == ["cfg-a", "cfg-b"]
    assert set(side["cfg-b"]) == set(STAGES) and "tune" not in side["cfg-a"]
    assert side["cfg-a"]["train"]["per_seed"]["0"]["test_acc"] == 90.0


def test_bad_alpha_is_refused(capsys):
    with pytest.raises(SystemExit):
        cmp.parse_args(["--alpha", "2"])
    assert "--alpha 2.0: expected a number in (0, 1)" in capsys.readouterr().err
