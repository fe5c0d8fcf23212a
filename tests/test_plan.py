"""The dry run: stage counts against DVC's own, compute counted by hand."""

import subprocess
import sys
from pathlib import Path

import pytest

from activation_study.activations._catalogue import catalogue
from activation_study.params.validated import check, load_params
from activation_study.pipeline.dag import stage_kind
from activation_study.pipeline.plan import config_compute, main, plan, split_sizes

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")


def test_stage_count_is_what_dvc_lists():
    """The pipeline's files expand the repository's params.yaml, whichever preset it holds."""
    listed = subprocess.run([str(DVC), "stage", "list", "--all", "--name-only"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    result = plan(load_params(ROOT / "params.yaml"))
    assert result["total_stages"] == len(listed)
    kinds = {}
    for name in listed:
        kinds[stage_kind(name)] = kinds.get(stage_kind(name), 0) + 1
    assert result["stages"] == kinds


def test_compute_of_one_configuration_by_hand():
    params = load_params(TINY_PARAMS)
    config = {"dataset": "digits", "activation": "relu", "depth": 2, "width": 8,
              "batchnorm": False}
    assert split_sizes("digits", params) == (1257, 180, 360)  # 1797 x 0.7, then 540 / 3
    assert split_sizes("mnist5k", params) == (3500, 500, 1000)  # metrics/split/mnist5k.json
    assert split_sizes("mnist", params) == (55000, 5000, 10000)
    weights = 64 * 8 + 8 * 8 + 8 * 10
    seeds, epochs = 2, 2  # tiny_params.yaml: train.seeds [0, 1], train.epochs 2
    result = config_compute(config, params)
    assert result["weights"] == weights
    assert result["model_steps"] == seeds * epochs * 20  # ceil(1257 / 64) = 20 steps
    assert result["flops"] == seeds * weights * (6 * epochs * 1257
                                                 + 2 * (epochs + 1) * 1797)
    assert result["tune_model_steps"] == 0  # a fixed rate: nothing is searched

    params["train"]["lr"]["relu"] = "auto"
    searched = config_compute(config, params)
    models = (3 + 2 + 2) * 3  # grid of 3, two more rates in each of rounds 2 and 3; 3 seeds
    assert searched["tune_model_steps"] == models * 5 * 20  # 5 budget epochs
    assert searched["tune_flops"] == models * weights * (6 * 5 * 1257 + 2 * 6 * 1797)
    assert searched["model_steps"] == result["model_steps"] + searched["tune_model_steps"]


@pytest.mark.parametrize("preset,configs", [("paper", 96), ("extended", 528),
                                            ("activations", 11)])
def test_presets_validate_and_plan(preset, configs, capsys):
    path = ROOT / "presets" / f"{preset}.yaml"
    params = check(load_params(path))
    result = main([str(path)])
    assert result["configs"] == configs
    if preset != "activations":
        assert result["largest"]["config"] == "cifar10-relu-d8-w800-bnfalse"
    assert result["stages"]["tune"] == configs and result["tune_flops"] > 0  # rates searched
    assert f"{configs} configurations" in capsys.readouterr().out
    if preset != "paper":
        assert set(params.grid.activations) == set(catalogue())
