"""The two errors a stage reports as a one-line message and exit status 2 (``stage_entry.run``):
a parameter that is not allowed, and a data file that is not what was expected."""

from __future__ import annotations


class ParamError(ValueError):
    """A parameter in params.yaml (or on the command line) has a value that is not allowed."""


class DataError(RuntimeError):
    """A dataset file is missing, truncated, corrupted or not what was expected."""


ERRORS = (ParamError, DataError)
