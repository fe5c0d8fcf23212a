"""``params.yaml`` validated once, as a whole, into typed settings: ``check`` returns the
frozen ``schema.Params`` (one pydantic model per group), for the plan, the pipeline runner and
the tests. The computing stages read their keys with ``activation_study.common.param_reader``
instead, which imports neither the schema nor pydantic (``validate`` has checked the whole file
before any of them runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activation_study.common.errors import ParamError
from activation_study.common.param_reader import PARAMS_FILE, DataParams, get
from activation_study.common.param_reader import load_params as read_params
from activation_study.params import schema

__all__ = ["PARAMS_FILE", "DataParams", "ParamError", "check", "get", "load_params"]


def check(raw: Any) -> schema.Params:
    """``schema.check``, its ``InvalidParams`` raised as the stages' ``ParamError``."""
    try:
        return schema.check(raw)
    except schema.InvalidParams as exc:
        raise ParamError(str(exc)) from None


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read, after validating every key of it."""
    params = read_params(path)
    check(params)
    return params
