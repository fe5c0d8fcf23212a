"""The two errors a stage reports as a one-line message (exit status 2) instead of a traceback.

Kept apart from the modules that raise them, so that a stage can catch both without importing
the parameter schema or the dataset sources.
"""

from __future__ import annotations


class ParamError(ValueError):
    """A parameter in params.yaml (or on the command line) has a value that is not allowed."""


class DataError(RuntimeError):
    """A dataset file is missing, truncated, corrupted or not what was expected."""
