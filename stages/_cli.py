"""Shared entry for stage modules: parameter and data errors exit 2 with a one-line message."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from activation_study.params import ParamError

try:
    from activation_study.data import DataError
except ImportError:
    ERRORS: tuple[type[Exception], ...] = (ParamError,)
else:
    ERRORS = (ParamError, DataError)


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def config_argument(description: str | None) -> str:
    """The ``--config ID`` of a per-configuration stage."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True,
                        help="configuration id, e.g. mnist5k-relu-d4-w200-bnfalse")
    return parser.parse_args().config
