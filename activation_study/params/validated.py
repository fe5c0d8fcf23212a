"""``params.yaml`` validated as a whole by ``params.schema``, and its values: for the validate
stage, the plan, the pipeline runner and the tests. The computing stages use
``params.reader`` instead, which imports neither the schema nor pydantic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from activation_study.activations._catalogue import catalogue
from activation_study.errors import ParamError
from activation_study.params import reader
from activation_study.params.reader import (
    AUTO_LR,
    PARAMS_FILE,
    DataParams,
    get,
    require,
)
from activation_study.params.schema import Params, check

__all__ = ["AUTO_LR", "PARAMS_FILE", "DataParams", "ParamError", "activation_shape",
           "data_params", "get", "learning_rate", "load_params", "require",
           "validate_analysis", "validate_classify", "validate_extract", "validate_grid",
           "validate_plots", "validate_train", "validate_tune"]


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read, after validating every key of it."""
    params = reader.load_params(path)
    check(params)
    return params


def data_params(params: dict[str, Any]) -> DataParams:
    data = check(params).data
    local = data.local_dir or os.environ.get(reader.LOCAL_DIR_ENV, "")
    return DataParams(local_dir=Path(local) if local else None,
                      validation_size=data.validation_size,
                      shipped_fractions=data.shipped_fractions.model_dump(),
                      split_seed=data.split_seed)


def validate_grid(params: dict[str, Any]) -> dict[str, list]:
    """Every axis of ``grid``, as lists."""
    return check(params).grid.model_dump()


def _activation(params: dict[str, Any], activation: str) -> Params:
    known = catalogue()
    require(activation in known, "grid.activations", activation,
            f"one of {', '.join(known)}")
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

