"""Reading ``params.yaml``, validated as a whole by ``params_schema`` (every bad value fails
here, before any long work), and the values each stage reads from it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation_study.activation_names import ACTIVATIONS
from activation_study.params_schema import (
    AUTO_LR,
    DATASETS,
    ParamError,
    Params,
    check,
    not_allowed,
)

__all__ = ["AUTO_LR", "DataParams", "ParamError", "activation_shape", "data_params",
           "dataset_name", "get", "learning_rate", "load_params", "require",
           "validate_analysis", "validate_classify", "validate_extract", "validate_grid",
           "validate_plots", "validate_train", "validate_tune"]

PARAMS_FILE = Path("params.yaml")
LOCAL_DIR_ENV = "ACTIVATION_STUDY_DATA"


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read, after validating every key of it."""
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: parameter file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    check(params)
    return params


def get(params: dict[str, Any], key: str) -> Any:
    """Look up a dotted key, naming it in the error when it is missing."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(f"params.yaml: missing key '{key}'")
        node = node[part]
    return node


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ParamError(not_allowed(key, value, allowed))


def dataset_name(name: Any, key: str = "grid.datasets") -> str:
    require(name in DATASETS, key, name, f"one of {', '.join(DATASETS)}")
    return name


@dataclass(frozen=True)
class DataParams:
    local_dir: Path | None
    validation_size: int
    shipped_fractions: dict[str, float]
    split_seed: int


def data_params(params: dict[str, Any]) -> DataParams:
    data = check(params).data
    local = data.local_dir or os.environ.get(LOCAL_DIR_ENV, "")
    return DataParams(local_dir=Path(local) if local else None,
                      validation_size=data.validation_size,
                      shipped_fractions=data.shipped_fractions.model_dump(),
                      split_seed=data.split_seed)


def validate_grid(params: dict[str, Any]) -> dict[str, list]:
    """Every axis of ``grid``, as lists."""
    return check(params).grid.model_dump()


def _activation(params: dict[str, Any], activation: str) -> Params:
    require(activation in ACTIVATIONS, "grid.activations", activation,
            f"one of {', '.join(ACTIVATIONS)}")
    return check(params)


def activation_shape(params: dict[str, Any], activation: str) -> float | None:
    """``train.shape.<activation>``: a number in the family's range, or None where the
    function has no shape parameter."""
    shape = _activation(params, activation).train.shape
    get(params, f"train.shape.{activation}")  # an activation outside the grid: still required
    return getattr(shape, activation)


def validate_train(params: dict[str, Any], activation: str) -> dict[str, Any]:
    """The ``train`` keys one configuration reads, as plain values."""
    train = _activation(params, activation).train
    return {"seeds": train.seeds, "epochs": train.epochs, "batch_size": train.batch_size,
            "lr_decay": train.lr_decay, "snapshot_epochs": sorted(train.snapshot_epochs or []),
            "device": train.device, "checkpoint_every": train.checkpoint_every,
            "cpu_threads": train.cpu_threads, "compile": train.compile,
            "matmul_precision": train.matmul_precision}


def learning_rate(params: dict[str, Any], activation: str) -> float | None:
    """``train.lr.<activation>``: a fixed Adam learning rate, or None for ``auto`` (searched
    by the tune stage)."""
    rate = getattr(_activation(params, activation).train.lr, activation)
    get(params, f"train.lr.{activation}")  # an activation outside the grid: still required
    return None if rate == AUTO_LR else float(rate)


def validate_tune(params: dict[str, Any]) -> dict[str, Any]:
    """The ``tune`` keys of tune@CONFIG (the learning-rate search)."""
    return check(params).tune.model_dump()


def validate_extract(params: dict[str, Any]) -> dict[str, Any]:
    """The ``extract`` keys of extract_activations@CONFIG."""
    return check(params).extract.model_dump()


def validate_analysis(params: dict[str, Any]) -> dict[str, Any]:
    """The ``analysis`` keys of compute_metrics@CONFIG."""
    return check(params).analysis.model_dump()


def validate_classify(params: dict[str, Any]) -> dict[str, Any]:
    """The ``classify`` keys of classify_layers@CONFIG (nodes and layers as classifiers)."""
    return check(params).classify.model_dump()


def validate_plots(params: dict[str, Any], grid: dict[str, list]) -> dict[str, Any]:
    """The ``plots`` keys: per-network figures for configurations of ``grid`` (the grid of
    the same ``params``, against which ``check`` has checked the ids)."""
    plots = check(params).plots
    return {"configs": plots.configs or [], "seed_index": plots.seed_index,
            "hist_nodes": plots.hist_nodes}

