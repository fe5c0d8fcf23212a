"""``params.yaml`` validated as a whole by ``params.schema``, then read by the stages' reader,
``activation_study.common.param_reader``: for the plan, the pipeline runner and the tests.
The computing stages use that reader alone, which imports neither the schema nor pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activation_study.activations._catalogue import catalogue
from activation_study.common import param_reader as reader
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import AUTO_LR, PARAMS_FILE, DataParams, get, require
from activation_study.params import schema

__all__ = ["AUTO_LR", "PARAMS_FILE", "DataParams", "ParamError", "activation_shape", "check",
           "data_params", "get", "learning_rate", "load_params", "require",
           "validate_analysis", "validate_classify", "validate_extract", "validate_grid",
           "validate_plots", "validate_train", "validate_tune"]


def check(raw: Any) -> schema.Params:
    """``schema.check``, its ``InvalidParams`` raised as the stages' ``ParamError``."""
    try:
        return schema.check(raw)
    except schema.InvalidParams as exc:
        raise ParamError(str(exc)) from None


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read, after validating every key of it."""
    params = reader.load_params(path)
    check(params)
    return params


def data_params(params: dict[str, Any]) -> DataParams:
    check(params)
    return reader.data_params(params)


def validate_grid(params: dict[str, Any]) -> dict[str, list]:
    """Every axis of ``grid``, as lists."""
    check(params)
    return reader.grid(params)


def _activation(params: dict[str, Any], activation: str) -> None:
    known = catalogue()
    require(activation in known, "grid.activations", activation,
            f"one of {', '.join(known)}")
    check(params)


def activation_shape(params: dict[str, Any], activation: str) -> float | None:
    """``train.shape.<activation>``: a number in the family's range, or None where the
    function has no shape parameter."""
    _activation(params, activation)
    return reader.activation_shape(params, activation)


def validate_train(params: dict[str, Any], activation: str) -> dict[str, Any]:
    """The ``train`` keys one configuration reads, as plain values."""
    _activation(params, activation)
    return reader.train_settings(params)


def learning_rate(params: dict[str, Any], activation: str) -> float | None:
    """``train.lr.<activation>``: a fixed Adam learning rate, or None for ``auto`` (searched
    by the tune stage)."""
    _activation(params, activation)
    return reader.learning_rate(params, activation)


def validated_group(params: dict[str, Any], name: str) -> dict[str, Any]:
    """One group (``tune``, ``extract``, ``analysis``, ``classify``) after checking the file."""
    check(params)
    return reader.group(params, name)


def validate_tune(params: dict[str, Any]) -> dict[str, Any]:
    """The ``tune`` keys of tune@CONFIG (the learning-rate search)."""
    return validated_group(params, "tune")


def validate_extract(params: dict[str, Any]) -> dict[str, Any]:
    """The ``extract`` keys of extract_activations@CONFIG."""
    return validated_group(params, "extract")


def validate_analysis(params: dict[str, Any]) -> dict[str, Any]:
    """The ``analysis`` keys of compute_metrics@CONFIG."""
    return validated_group(params, "analysis")


def validate_classify(params: dict[str, Any]) -> dict[str, Any]:
    """The ``classify`` keys of classify_layers@CONFIG (nodes and layers as classifiers)."""
    return validated_group(params, "classify")


def validate_plots(params: dict[str, Any], grid: dict[str, list]) -> dict[str, Any]:
    """The ``plots`` keys: per-network figures for configurations of ``grid`` (the grid of
    the same ``params``, against which ``check`` has checked the ids)."""
    return {**validated_group(params, "plots"), "configs": reader.plotted_configs(params)}
