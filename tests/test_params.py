"""Bad parameters fail early with the key and what is allowed."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from activation_study.activations import REGISTRY
from activation_study.configuration import grid_configs
from activation_study.params import (
    ParamError,
    activation_shape,
    data_params,
    learning_rate,
    load_params,
    validate_analysis,
    validate_classify,
    validate_extract,
    validate_grid,
    validate_plots,
    validate_train,
    validate_tune,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
# params.yaml holds whichever preset the user chose: tests of values read the tests' own file
DEFAULTS = load_params(ROOT / "params.yaml")
TINY = load_params(TINY_PARAMS)


def edited(key: str, value):
    """The tests' own parameters with one key replaced."""
    params = copy.deepcopy(TINY)
    node = params
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return params


@pytest.mark.parametrize("params", [DEFAULTS, TINY], ids=["params.yaml", "tiny_params.yaml"])
def test_defaults_are_valid(params):
    """params.yaml, whichever preset it holds, and the tests' own file pass every check."""
    grid = validate_grid(params)
    data_params(params)
    for activation in grid["activations"]:
        validate_train(params, activation)
        activation_shape(params, activation)
        rate = learning_rate(params, activation)
        assert rate is None or rate > 0  # None: auto, searched by tune@CONFIG
    validate_tune(params)
    validate_extract(params)
    validate_analysis(params)
    validate_plots(params, grid)
    validate_classify(params)
    n = 1
    for axis in grid.values():
        n *= len(axis)
    assert len(grid_configs(grid)) == n


@pytest.mark.parametrize("key,value,expected", [
    ("grid.datasets", ["mnist", "imagenet"], "grid.datasets"),
    ("grid.activations", ["relu", "swish2"], "grid.activations"),
    ("grid.depths", [2, 0], "grid.depths"),
    ("grid.widths", [-3], "grid.widths"),
    ("grid.batchnorm", ["yes"], "grid.batchnorm"),
    ("data.shipped_fractions", {"train": 0.8, "validation": 0.1, "test": 0.2},
     "data.shipped_fractions"),
])
def test_bad_grid_or_data(key, value, expected):
    with pytest.raises(ParamError, match=expected):
        params = edited(key, value)
        validate_grid(params)
        data_params(params)


@pytest.mark.parametrize("key,value,expected", [
    ("train.epochs", 0, "train.epochs"),
    ("train.snapshot_epochs", [1, 31], "train.snapshot_epochs"),
    ("train.batch_size", 0, "train.batch_size"),
    ("train.lr_decay", 1.5, "train.lr_decay"),
    ("train.seeds", [1, 1], "train.seeds"),
    ("train.device", "tpu", "train.device"),
])
def test_bad_train(key, value, expected):
    with pytest.raises(ParamError, match=expected):
        validate_train(edited(key, value), "relu")


@pytest.mark.parametrize("activation,value,expected", [
    ("relu", 0.1, "no shape parameter"),
    ("leaky_relu", None, "train.shape.leaky_relu"),
    ("leaky_relu", 1.5, "a number in \\(0.0, 1.0\\)"),
    ("leaky_tanh", 0, "train.shape.leaky_tanh"),
])
def test_bad_activation_shape(activation, value, expected):
    with pytest.raises(ParamError, match=expected):
        activation_shape(edited(f"train.shape.{activation}", value), activation)


def test_activation_shapes():
    assert {name: activation_shape(TINY, name) for name in REGISTRY} == {
        "relu": None, "sigmoid": None, "tanh": None, "leaky_relu": 0.01,
        "rescaled_sigmoid": None, "leaky_tanh": 0.25, "prelu": 0.25, "elu": None, "gelu": None,
        "silu": None}


def test_missing_learning_rate_names_the_key():
    params = copy.deepcopy(TINY)
    del params["train"]["lr"]["sigmoid"]
    with pytest.raises(ParamError, match="train.lr.sigmoid"):
        learning_rate(params, "sigmoid")


@pytest.mark.parametrize("value", [0, -1e-3, "fast", True, float("nan")])
def test_bad_learning_rate_names_the_key_and_auto(value):
    with pytest.raises(ParamError, match="train.lr.relu.*or 'auto'"):
        learning_rate(edited("train.lr.relu", value), "relu")


def test_auto_learning_rate_means_search():
    assert learning_rate(edited("train.lr.relu", "auto"), "relu") is None
    assert validate_tune(TINY) == {"grid": [1e-2, 1e-3, 1e-4], "rounds": 3, "epochs": 5,
                                   "seeds": [0, 1, 2]}


@pytest.mark.parametrize("key,value,expected", [
    ("tune.grid", [], "a non-empty list"),
    ("tune.grid", [1e-2, 0], "learning rates > 0"),
    ("tune.grid", [1e-2, 1e-2], "distinct rates"),
    ("tune.rounds", 0, "tune.rounds"),
    ("tune.epochs", 1.5, "tune.epochs"),
    ("tune.seeds", [0, 0], "tune.seeds"),
])
def test_bad_tune(key, value, expected):
    with pytest.raises(ParamError, match=expected):
        validate_tune(edited(key, value))


def test_validate_stage_exits_nonzero_naming_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(edited("grid.depths", [0, 2])))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "stages.validate"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "grid.depths" in proc.stderr and "integers >= 1" in proc.stderr
    assert not (tmp_path / "data" / "validate" / "params.ok").exists()


def test_paper_preset_is_the_full_grid():
    paper = load_params(ROOT / "presets" / "paper.yaml")
    grid = validate_grid(paper)
    assert len(grid_configs(grid)) == 3 * 2 * 4 * 2 * 2
    assert validate_train(paper, "relu")["epochs"] == 300


@pytest.mark.parametrize("path", [*(ROOT / "presets" / f"{preset}.yaml"
                                   for preset in ("paper", "extended", "activations")),
                                  TINY_PARAMS], ids=lambda path: path.name)
def test_presets_have_every_key_of_params_yaml(path):
    """A preset replaces params.yaml: a key it lacked would stop the run at validation.
    The tests' own file follows params.yaml too, so that the end-to-end runs see every key."""
    params = load_params(path)
    assert set(params) == set(DEFAULTS)
    for group in DEFAULTS:
        assert set(params[group]) == set(DEFAULTS[group]), group
    assert set(params["train"]["lr"]) == set(DEFAULTS["train"]["lr"]) == set(REGISTRY)


@pytest.mark.parametrize("key,value,expected", [
    ("extract.samples_per_class", 0, "extract.samples_per_class"),
    ("extract.dtype", "bfloat16", "extract.dtype"),
    ("extract.sets", ["test"], "extract.sets"),
    ("extract.initial_batchnorm", "batch", "extract.initial_batchnorm"),
    ("analysis.accuracy_target", 101, "analysis.accuracy_target"),
    ("plots.configs", ["mnist5k-relu-d9-w200-bnfalse"], "plots.configs"),
    ("plots.seed_index", 3, "plots.seed_index"),
    ("plots.hist_nodes", 0, "plots.hist_nodes"),
    ("classify.bandwidth", 0, "classify.bandwidth"),
    ("classify.floor", "1e-10", "classify.floor"),  # PyYAML reads 1e-10 as a string
    ("classify.floor", 0.5, "classify.floor"),
    ("classify.floor", 1e-40, "classify.floor"),
    ("classify.prior", "flat", "classify.prior"),
    ("classify.estimator", "sklearn", "classify.estimator"),
    ("classify.grid_per_bandwidth", 2, "classify.grid_per_bandwidth"),
    ("classify.tolerance", -1, "classify.tolerance"),
])
def test_bad_analysis_parameters(key, value, expected):
    params = edited(key, value)
    with pytest.raises(ParamError, match=expected):
        validate_extract(params)
        validate_analysis(params)
        validate_plots(params, validate_grid(params))
        validate_classify(params)


def test_analysis_parameters_are_read():
    assert validate_extract(TINY)["dtype"] == "float16"
    assert validate_analysis(TINY)["accuracy_target"] == 99.0
    assert validate_plots(TINY, validate_grid(TINY))["configs"] == ["digits-relu-d2-w8-bnfalse"]
    assert validate_classify(TINY) == {
        "bandwidth": 0.2, "floor": 1e-10, "prior": "class_frequency", "estimator": "binned",
        "grid_per_bandwidth": 24, "tolerance": 1.0}
