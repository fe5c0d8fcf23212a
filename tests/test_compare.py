"""The headline metrics and the compare command, on hand-made metric files with known answers."""

import json
import math

import pytest
from fsspec.implementations.local import LocalFileSystem
from scipy import stats

from activation_study.results import compare as cmp
from activation_study.results import numerics
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


# --- numeric environments ---------------------------------------------------------------------

PORTABLE = {"cpu_numerics": "portable", "level": "x86-64-v3",
            "kernels": {"torch": "AVX2", "mkl": "COMPATIBLE,STRICT", "numpy": "X86_V3",
                        "blas": ["openblas Haswell"]},
            "threads": 1,
            "versions": {"torch": "2.13.0+cpu", "numpy": "2.4.6", "scipy": "1.17.1",
                         "mkl": "2024.2", "blas": ["openblas 0.3.31.188.0"]},
            "device": {"type": "cpu"}}
NATIVE = {**PORTABLE, "cpu_numerics": "native", "level": "native",
          "kernels": {**PORTABLE["kernels"], "torch": "AVX512"}}


def with_numerics(block, **kwargs):
    """details() with ``block`` as the numerics of every computing stage (None: unrecorded)."""
    result = details(**kwargs)
    if block is not None:
        for stage in ("train", "compute_metrics", "classify_layers"):
            result[stage]["numerics"] = block
    result["tune"] |= {"mode": "fixed"}  # a fixed rate: tune computes nothing, records nothing
    return result


def test_numerics_stay_out_of_the_compared_quantities():
    plain, fingerprinted = details(), with_numerics(NATIVE)
    for stage in STAGES:
        assert quantities(stage, plain[stage]) == quantities(stage, fingerprinted[stage])
    assert config_headline(fingerprinted) == config_headline(plain)
    result = cmp.compare({"x": with_numerics(PORTABLE)}, {"x": fingerprinted})
    assert result.changed == [] and not any("numerics" in r.label for r in result.rows)


def test_equal_fingerprints_share_one_environment():
    result = cmp.compare({"x": with_numerics(PORTABLE), "y": with_numerics(PORTABLE)},
                         {"x": with_numerics(PORTABLE), "y": with_numerics(PORTABLE)})
    assert result.numerics == [] and result.numerics_configs == []
    for markdown in (False, True):
        text = cmp.render(result, "main", "branch", markdown=markdown)
        assert ("Both sides share one numeric environment: portable CPU numerics (x86-64-v3), "
                "1 thread, CPU.") in text
        assert "differ" not in text.split("\n\n")[2]


def test_differing_kernels_and_mode_are_listed_above_the_table():
    a = {"x": with_numerics(PORTABLE), "y": with_numerics(PORTABLE)}
    b = {"x": with_numerics(NATIVE, test=(95.0, 96.0, 97.0)), "y": with_numerics(PORTABLE)}
    result = cmp.compare(a, b)
    # deduplicated over the three stages of x; y agrees
    assert result.numerics == [("cpu_numerics", "portable", "native"),
                               ("level", "x86-64-v3", "native"),
                               ("kernels.torch", "AVX2", "AVX512")]
    assert result.numerics_configs == ["x"]
    text = cmp.render(result, "main", "branch")
    assert ("Numeric environments differ: A and B were computed with different kernels or "
            "library versions; differences below may come from the machine, not the edit "
            "(1 of 2 configurations):\n  cpu_numerics: portable -> native\n"
            "  level: x86-64-v3 -> native\n  kernels.torch: AVX2 -> AVX512\n") in text
    assert text.index("Numeric environments differ") < text.index("test accuracy (%)")
    markdown = cmp.render(result, "main", "branch", markdown=True)
    assert "**Numeric environments differ**: A and B" in markdown
    assert "- `kernels.torch`: AVX2 -> AVX512" in markdown
    assert markdown.index("- `cpu_numerics`: portable -> native") < markdown.index("| x ")


def test_an_unrecorded_side_says_so():
    result = cmp.compare({"x": with_numerics(None)}, {"x": with_numerics(PORTABLE)})
    assert result.numerics == [("numerics", "not recorded",
                                "portable CPU numerics (x86-64-v3), 1 thread, CPU")]
    text = cmp.render(result, "HEAD", "workspace")
    assert text.count("Numeric environment not recorded on one side") == 1
    assert "  numerics: not recorded -> portable CPU numerics (x86-64-v3), 1 thread, CPU" in text
    neither = cmp.compare({"x": with_numerics(None)}, {"x": with_numerics(None)})
    assert neither.numerics == []
    assert "Numeric environment: not recorded on either side" in cmp.render(neither, "a", "b")


def test_numerics_differences_and_descriptions():
    gpu = {**PORTABLE, "device": {"type": "cuda", "gpu": "NVIDIA H100 80GB HBM3",
                                  "compute_capability": "9.0", "cuda": "12.8", "cudnn": 91000},
           "versions": {**PORTABLE["versions"], "numpy": "2.5.5"}, "threads": 4}
    assert numerics.differences(PORTABLE, gpu) == [
        ("threads", "1", "4"), ("versions.numpy", "2.4.6", "2.5.5"),
        ("device.type", "cpu", "cuda"), ("device.gpu", "-", "NVIDIA H100 80GB HBM3"),
        ("device.compute_capability", "-", "9.0"), ("device.cuda", "-", "12.8"),
        ("device.cudnn", "-", "91000")]
    assert numerics.differences(PORTABLE, dict(PORTABLE)) == []
    assert numerics.differences(None, None) == []
    assert numerics.describe(gpu) == ("portable CPU numerics (x86-64-v3), 4 threads, "
                                      "GPU NVIDIA H100 80GB HBM3 (CUDA 12.8)")
    assert numerics.describe(NATIVE) == "native CPU numerics, 1 thread, CPU"
    assert numerics.describe(None) == "not recorded"
    side = {"x": {"tune": {"mode": "fixed", "lr": 0.1},
                  "train": {"numerics": PORTABLE}, "compute_metrics": {}}}
    assert numerics.fingerprints(side) == {"x": {"train": PORTABLE, "compute_metrics": None}}
