"""Bad parameters fail early with the dotted key and what is allowed.

``PROBES`` is a module-level table of bad values, each applied to the repository's
params.yaml; print it with
``python -c "from tests.test_params import probe_table; print(probe_table())"``.
"""

import copy
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from sklearn.datasets import load_digits

from activation_study.activations._catalogue import catalogue
from activation_study.common import param_reader as reader
from activation_study.common.configs import grid_configs
from activation_study.data.split import split_dataset
from activation_study.data.store import Dataset
from activation_study.params.schema import training_samples
from activation_study.params.validated import ParamError, check, load_params

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
PARAM_FILES = [ROOT / "params.yaml", *sorted((ROOT / "presets").glob("*.yaml")), TINY_PARAMS]
# params.yaml holds whichever preset the user chose: tests of values read the tests' own file
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
TINY = load_params(TINY_PARAMS)
DELETE = object()  # a probe value: the key is removed


def edited(base: dict, edits: dict[str, Any]) -> dict:
    """``base`` with dotted keys replaced (or removed: ``DELETE``)."""
    params = copy.deepcopy(base)
    for key, value in edits.items():
        node = params
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return params


class Probe(NamedTuple):
    edits: dict[str, Any]  # applied to params.yaml
    key: str  # the dotted key the message must name
    allowed: str  # a fragment of what the message says is allowed


def probe(key: str, value: Any, allowed: str, named: str | None = None) -> Probe:
    return Probe({key: value}, named or key, allowed)


PROBES: list[Probe] = [
    probe("train.device", "cuda:x", "auto, cpu, cuda or cuda:N"),
    probe("train.device", "mps", "auto, cpu, cuda or cuda:N"),
    probe("train.device", "cuda:-1", "N an integer >= 0"),
    probe("train.compile", "yes", "auto (CUDA graphs on CUDA devices), true or false"),
    probe("train.matmul_precision", "medium", "highest or high"),
    probe("data.local_dir", 123, "a string"),
    probe("data.local_dir", None, "a string"),
    probe("classify.bandwidth", 1.0e-6, "a number in [0.01, 10]"),
    probe("classify.grid_per_bandwidth", 1000, "an integer in [4, 256]"),
    probe("train.batch_size", 3499, "last mini-batch of 1 sample: mnist5k has 3500 training"),
    probe("train.batch_size", 4000, "at most the 3500 training samples of mnist5k"),
    probe("train.snapshot_epochs", 0, "null or a list of distinct epochs"),
    probe("train.snapshot_epochs", [1, 1], "distinct epochs"),
    probe("train.snapshot_epochs", [1, 30], "between 1 and train.epochs = 20"),
    probe("grid.depths", [2, 2], "distinct integers in [1, 64]"),
    probe("grid.depths", [], "a non-empty list"),
    probe("grid.depths", [100], "distinct integers in [1, 64]"),
    probe("grid.widths", [20000], "distinct integers in [1, 16384]"),
    probe("grid.datasets", ["imagenet"], "one of mnist, fashion_mnist"),
    probe("grid.activations", ["swish"], "distinct names from elu, gelu"),
    probe("grid.batchnorm", ["yes"], "distinct true/false"),
    probe("data.validation_size", 5, "an integer in [100, 59999]"),
    Probe({"grid.datasets": ["mnist", "cifar10"], "data.validation_size": 55000,
           "plots.configs": []},
          "data.validation_size", "fewer than 50000, the smallest official training set"),
    probe("data.shipped_fractions", {"train": 0.8, "validation": 0.1, "test": 0.2},
          "summing to 1"),
    probe("data.shipped_fractions.test", 1.5, "a fraction in (0, 1)"),
    probe("data.split_seed", -1, "an integer in [0, 4294967295]"),
    probe("train.lr.relu", 10, "an Adam learning rate in [1e-06, 0.1] or 'auto'"),
    probe("train.lr.relu", "3e-3", "write 3.0e-3"),
    probe("train.lr.relu", True, "or 'auto'"),
    probe("train.lr.relu", "fast", "or 'auto'"),
    probe("train.lr.sigmoid", DELETE, "every activation of grid.activations needs one"),
    probe("train.lr", 0.003, "a mapping: activation -> learning rate"),
    probe("train.shape.relu", 0.1, "null (relu has no shape parameter)"),
    probe("train.shape.leaky_relu", 1.5, "its slope, a number in (0.0, 1.0)"),
    probe("train.weight_decay", 0.1, "did you mean 'train.lr_decay'?"),
    probe("train.lr_decy", 0.99, "did you mean 'train.lr_decay'?"),
    probe("trian", {"epochs": 3}, "did you mean 'train'?"),
    probe("train.epochs", DELETE, "an integer in [1, 10000]"),
    probe("train.epochs", True, "an integer in [1, 10000]"),
    probe("train.epochs", 20000, "an integer in [1, 10000]"),
    probe("train.epochs", "20", "an integer in [1, 10000]"),
    probe("train.seeds", [1, 1], "distinct integers >= 0"),
    probe("train.seeds", [-1], "distinct integers >= 0"),
    probe("train.lr_decay", 1.5, "a factor in (0, 1]"),
    probe("train.checkpoint_every", 0, "an integer in [1, 10000]"),
    probe("train.cpu_threads", 0, "an integer in [1, 1024]"),
    probe("train.cpu_numerics", "fast", "portable or native"),
    probe("train.cpu_numerics", None, "portable or native"),
    probe("report.wall_times", "yes", "true or false"),
    probe("tune.grid", [1.0e-2, 1.0e-2], "distinct to 3 significant digits"),
    probe("tune.grid", [1.0], "learning rates in [1e-06, 0.1]"),
    probe("tune.rounds", 0, "an integer in [1, 10]"),
    probe("tune.epochs", 0, "an integer in [1, 10000]"),
    probe("extract.samples_per_class", 0, "null (all samples) or an integer"),
    probe("extract.dtype", "bfloat16", "float16 or float32"),
    probe("extract.sets", ["test"], "including train"),
    probe("analysis.accuracy_target", 0, "a percentage in (0, 100]"),
    probe("classify.floor", "1e-10", "write 1.0e-10"),
    probe("classify.prior", "flat", "class_frequency or uniform"),
    probe("classify.tolerance", True, "percentage points in [0, 100]"),
    probe("plots.configs", ["mnist5k-relu-d9-w200-bnfalse"], "ids of configurations in the grid"),
    probe("plots.seed_index", 3, "an index into train.seeds (0..2)"),
    probe("plots.hist_nodes", 0, "an integer in [1, 100]"),
    probe("report.tolerance", 101, "percentage points in [0, 100]"),
]


def probe_id(p: Probe) -> str:
    return ",".join(f"{k}={'(removed)' if v is DELETE else repr(v)}" for k, v in p.edits.items())


def probe_message(p: Probe) -> str:
    try:
        check(edited(BASE, p.edits))
    except ParamError as error:
        return str(error)
    return "(accepted)"


def probe_table() -> str:
    """``value -> message`` for every probe, a markdown list."""
    return "\n".join(f"- `{probe_id(p)}` -> {probe_message(p)}" for p in PROBES)


def test_there_are_enough_probes():
    assert len(PROBES) >= 30


@pytest.mark.parametrize("p", PROBES, ids=probe_id)
def test_a_bad_value_names_its_key_and_what_is_allowed(p):
    with pytest.raises(ParamError) as error:
        check(edited(BASE, p.edits))
    message = str(error.value)
    assert f"'{p.key}'" in message and p.allowed in message, message
    assert "pydantic" not in message and "errors.pydantic.dev" not in message


def test_several_problems_are_listed_one_a_line():
    with pytest.raises(ParamError) as error:
        check(edited(BASE, {"train.epochs": 0, "classify.prior": "flat"}))
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("params.yaml: '") for line in lines)


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda path: path.name)
def test_shipped_parameter_files_are_valid(path):
    """params.yaml, every preset and the tests' own file pass every check."""
    params = load_params(path)  # every key checked, once
    grid = reader.grid(params)
    reader.data_params(params)
    assert reader.train_settings(params)["checkpoint_every"] >= 1
    for activation in grid["activations"]:
        reader.activation_shape(params, activation)
        rate = reader.learning_rate(params, activation)
        assert rate is None or rate > 0  # None: auto, searched by tune@CONFIG
    typed = check(params).model_dump()  # the typed settings hold what the reader reads
    for group in ("tune", "extract", "analysis", "classify", "plots"):
        assert reader.group(params, group) == typed[group], group
    assert reader.plotted_configs(params) == list(typed["plots"]["configs"] or [])
    assert len(grid_configs(grid)) == math.prod(len(axis) for axis in grid.values())


@pytest.mark.parametrize("path", PARAM_FILES[1:], ids=lambda path: path.name)
def test_presets_have_every_key_of_params_yaml(path):
    """A preset replaces params.yaml: a key it lacked would stop the run at validation.
    The tests' own file follows params.yaml too, so that the end-to-end runs see every key."""
    params = load_params(path)
    assert set(params) == set(BASE)
    for group in BASE:
        assert set(params[group]) == set(BASE[group]), group
    assert set(params["train"]["lr"]) == set(BASE["train"]["lr"]) == set(catalogue())


def test_values_are_read():
    assert {name: reader.activation_shape(TINY, name) for name in catalogue()} == {
        "relu": None, "sigmoid": None, "tanh": None, "leaky_relu": 0.01,
        "rescaled_sigmoid": None, "leaky_tanh": 0.25, "prelu": 0.25, "elu": None, "gelu": None,
        "silu": None, "mish": None}
    assert reader.train_settings(TINY) == {
        "seeds": [0, 1], "epochs": 2, "batch_size": 64, "lr_decay": 0.99,
        "snapshot_epochs": [1], "device": "cpu", "checkpoint_every": 5,
        "cpu_threads": 1, "compile": False,
        "matmul_precision": "highest"}
    assert reader.learning_rate(TINY, "relu") == 0.01
    assert reader.learning_rate(edited(TINY, {"train.lr.relu": "auto"}), "relu") is None
    assert reader.group(TINY, "tune") == {"grid": [1e-2, 1e-3, 1e-4], "rounds": 3, "epochs": 5,
                                   "seeds": [0, 1, 2]}
    assert reader.group(TINY, "extract")["dtype"] == "float16"
    assert reader.group(TINY, "analysis") == {"accuracy_target": 99.0}
    assert reader.plotted_configs(TINY) == ["digits-relu-d2-w8-bnfalse"]
    assert reader.group(TINY, "classify") == {
        "bandwidth": 0.2, "floor": 1e-10, "prior": "class_frequency", "estimator": "binned",
        "grid_per_bandwidth": 24, "tolerance": 1.0}
    assert reader.train_settings(edited(TINY, {"train.snapshot_epochs": None}))[
        "snapshot_epochs"] == []


def test_an_activation_outside_the_grid_still_needs_its_keys():
    params = edited(TINY, {"train.lr.tanh": DELETE})
    check(params)  # tanh is not in the tiny grid: the file is valid
    assert reader.learning_rate(params, "relu") == 0.01
    with pytest.raises(ParamError, match="missing key 'train.lr.tanh'"):
        reader.learning_rate(params, "tanh")


@pytest.mark.parametrize("fraction", [0.7, 0.5, 0.6, 0.83])
def test_training_samples_of_a_shipped_set_are_those_of_the_real_split(fraction):
    """The batch-size rule counts training samples without the data, as split.py cuts them."""
    digits = load_digits()
    dataset = Dataset("digits", "sklearn", {"all": (digits.images.astype("uint8"),
                                                    digits.target)}, list("0123456789"))
    rest = (1 - fraction) / 2
    params = edited(TINY, {"data.shipped_fractions": {"train": fraction, "validation": rest,
                                                      "test": 1 - fraction - rest}})
    split = split_dataset(dataset, reader.data_params(params))
    assert len(split["train"][1]) == training_samples("digits", check(params).data)


def test_official_training_samples_lose_the_validation_set():
    data = check(edited(TINY, {"data.validation_size": 5000})).data
    assert training_samples("mnist", data) == 55000
    assert training_samples("cifar10", data) == 45000


def run_validate(folder: Path, params: dict) -> subprocess.CompletedProcess:
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "stages.validate"], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)


def test_validate_stage_exits_nonzero_naming_the_key(tmp_path):
    proc = run_validate(tmp_path, edited(TINY, {"grid.depths": [0, 2]}))
    assert proc.returncode == 2
    assert "grid.depths" in proc.stderr and "distinct integers in [1, 64]" in proc.stderr
    assert not (tmp_path / "data" / "validate" / "params.ok").exists()


def test_validate_stage_refuses_cuda_where_there_is_none(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_validate(tmp_path, edited(BASE, {"train.device": "cuda"}))
    assert proc.returncode == 2
    assert "'train.device' = 'cuda'" in proc.stderr and "CUDA is not available" in proc.stderr
    assert not (tmp_path / "data" / "validate" / "params.ok").exists()


def test_graphs_need_a_cuda_device(tmp_path):
    with pytest.raises(ParamError, match="'train.compile' = true is not allowed"):
        check(edited(BASE, {"train.compile": True, "train.device": "cpu"}))
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_validate(tmp_path, edited(BASE, {"train.compile": True}))  # device auto: the CPU
    assert proc.returncode == 2
    assert "'train.compile' = true is not allowed" in proc.stderr and "expected false or auto" \
        in proc.stderr
    assert not (tmp_path / "data" / "validate" / "params.ok").exists()
    assert run_validate(tmp_path, edited(BASE, {"train.compile": "auto"})).returncode == 0


def test_cheap_stages_do_not_import_torch():
    code = ("import sys; import activation_study.params.validated, stages.validate, stages.split, "
            "stages.summarize, stages.report; print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_validate_checks_the_cuda_device_it_names(monkeypatch):
    """validate's own device check (it imports nothing the other stages share): on a machine
    with one CUDA device, cuda and cuda:0 pass, cuda:1 is refused naming the range, and
    compile: true passes with auto; with no CUDA, compile: true is refused."""
    torch = pytest.importorskip("torch")
    from activation_study.params.schema import InvalidParams
    from stages.validate import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for device in ("cuda", "cuda:0", "auto", "cpu"):
        check_device(device, False)
    check_device("auto", True)
    with pytest.raises(InvalidParams, match=r"'train.device' = 'cuda:1'.*1 CUDA device.*cuda:0"):
        check_device("cuda:1", False)
    with pytest.raises(InvalidParams, match="'train.compile' = true"):
        check_device("cpu", True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InvalidParams, match="'train.compile' = true"):
        check_device("auto", True)
    with pytest.raises(InvalidParams, match="CUDA is not available"):
        check_device("cuda", False)
