"""The keys of params.yaml a stage reads, with checks of what it uses and clear errors, but
without the schema or pydantic (the ``validate`` stage checks the whole file first)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation_study.common.errors import ParamError

PARAMS_FILE = Path("params.yaml")
LOCAL_DIR_ENV = "ACTIVATION_STUDY_DATA"
AUTO_LR = "auto"
GRID_AXES = ("datasets", "activations", "depths", "widths", "batchnorm")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read (YAML 1.1, PyYAML's safe loader)."""
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: parameter file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    if not isinstance(params, dict):
        raise ParamError(f"{path}: expected a mapping of parameter groups")
    return params


def get(params: dict[str, Any], key: str) -> Any:
    """Look up a dotted key, naming it in the error when it is missing."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(f"params.yaml: missing key '{key}'")
        node = node[part]
    return node


def not_allowed(key: str, value: Any, allowed: str) -> str:
    return f"params.yaml: '{key}' = {value!r} is not allowed; expected {allowed}"


def batch_size_problem(batch: int, samples: int, dataset: str, batchnorm: bool) -> str | None:
    """What ``train.batch_size`` must be instead, for a dataset with ``samples`` training
    samples (None when it is allowed): at most the samples, and, with batch norm, not a size
    that leaves a last mini-batch of one sample. The schema checks it for the built-in sets,
    whose sizes it knows; training checks it for every set once the split is read."""
    if batch > samples:
        return f"at most the {samples} training samples of {dataset}"
    if batchnorm and samples % batch == 1:
        return (f"a size that does not leave a last mini-batch of 1 sample: {dataset} has "
                f"{samples} training samples, and batch norm cannot train on 1 sample")
    return None


def device_problem(name: str, cuda_devices: int) -> str | None:
    """Why ``train.device`` cannot run on a machine with ``cuda_devices`` CUDA devices (None
    when it can): a CUDA device it names must be one of them."""
    if not name.startswith("cuda"):
        return None
    index = int(name.partition(":")[2] or 0)
    if index < cuda_devices:
        return None
    have = (f"this machine has {cuda_devices} CUDA device(s)" if cuda_devices
            else "CUDA is not available on this machine")
    expected = f"cuda:0..cuda:{cuda_devices - 1}" if cuda_devices else "auto or cpu"
    return f"params.yaml: 'train.device' = {name!r} is not allowed: {have}; expected {expected}"


def compile_problem(compile: bool | str, on_cuda: bool) -> str | None:
    """Why ``train.compile`` cannot be honoured (None when it can): ``true`` asks for CUDA
    graphs, which need training on a CUDA device (``auto`` turns them on for CUDA only)."""
    if compile is True and not on_cuda:
        return ("params.yaml: 'train.compile' = true is not allowed: CUDA graphs need a CUDA "
                "device, and training runs on the CPU; expected false or auto")
    return None


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ParamError(not_allowed(key, value, allowed))


def group(params: dict[str, Any], name: str) -> dict[str, Any]:
    """One group of keys (``tune``, ``extract``, ...) as a mapping."""
    value = get(params, name)
    require(isinstance(value, dict), name, value, "a mapping of keys")
    return dict(value)


def grid(params: dict[str, Any]) -> dict[str, list]:
    """Every axis of ``grid``, as lists."""
    axes = {axis: get(params, f"grid.{axis}") for axis in GRID_AXES}
    for axis, values in axes.items():
        require(isinstance(values, list) and values, f"grid.{axis}", values, "a non-empty list")
    return axes


def activation_shape(params: dict[str, Any], activation: str) -> float | None:
    """``train.shape.<activation>``: a number, or None where the function has no shape."""
    key = f"train.shape.{activation}"
    shape = get(params, key)
    require(shape is None or (isinstance(shape, int | float) and not isinstance(shape, bool)),
            key, shape, "a number or null")
    return None if shape is None else float(shape)


def learning_rate(params: dict[str, Any], activation: str) -> float | None:
    """``train.lr.<activation>``: a fixed Adam learning rate, or None for ``auto`` (searched
    by the tune stage)."""
    key = f"train.lr.{activation}"
    rate = get(params, key)
    if rate == AUTO_LR:
        return None
    require(isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0, key,
            rate, f"a learning rate > 0 or {AUTO_LR!r}")
    return float(rate)


TRAIN_KEYS = ("seeds", "epochs", "batch_size", "lr_decay", "snapshot_epochs", "device",
              "checkpoint_every", "cpu_threads", "compile", "matmul_precision")


def train_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The ``train`` keys a configuration's training reads (not lr and shape: per activation)."""
    train = {key: get(params, f"train.{key}") for key in TRAIN_KEYS}
    train["snapshot_epochs"] = sorted(train["snapshot_epochs"] or [])
    return train


def plotted_configs(params: dict[str, Any]) -> list[str]:
    """``plots.configs``: the configuration ids with per-network figures."""
    return list(get(params, "plots.configs") or [])


def user_files(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``data.files``: datasets of your own, name -> {path, classes, sha256}."""
    files = get(params, "data.files")
    require(isinstance(files, dict), "data.files", files, "a mapping: name -> {path, classes, "
            "sha256}")
    return files


@dataclass(frozen=True)
class DataParams:
    local_dir: Path | None
    validation_size: int
    shipped_fractions: dict[str, float]
    split_seed: int


def data_params(params: dict[str, Any]) -> DataParams:
    local = get(params, "data.local_dir") or os.environ.get(LOCAL_DIR_ENV, "")
    return DataParams(local_dir=Path(local) if local else None,
                      validation_size=get(params, "data.validation_size"),
                      shipped_fractions=dict(get(params, "data.shipped_fractions")),
                      split_seed=get(params, "data.split_seed"))
