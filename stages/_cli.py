"""Shared entry for stage modules.

- Parameter and data errors exit 2 with a one-line message.
- Every successful run logs the wall time of ``main`` (from after the imports to the outputs
  written) to ``logs/timing/<stage>/<name>.json``, the name a per-configuration stage's
  configuration id: a run log of this workspace for the study report, deliberately not a
  DVC output (a time differs on every run, and no result may depend on it).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from activation_study.configuration import command_line_id, grid_configs, stage_name
from activation_study.errors import DataError, ParamError
from activation_study.io import write_json
from activation_study.params.reader import grid, load_params, plotted_configs

ERRORS = (ParamError, DataError)

TIMING_DIR = Path("logs/timing")


def stage_kind() -> str:
    """The running stage module's name (``train`` for ``python -m stages.train``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return (spec.name if spec else Path(sys.argv[0]).stem).rsplit(".", 1)[-1]


def log_timing(seconds: float, argv: list[str]) -> Path:
    """Write the wall time of this run under its DVC stage's name: the configuration id for a
    per-configuration stage, else the command line's values (``download@digits``)."""
    kind = stage_kind()
    cid = command_line_id(argv)
    if cid:
        name, stage = cid, stage_name(kind, cid)
    else:
        item = "-".join(a for a in argv if not a.startswith("--"))
        name, stage = (item, f"{kind}@{item}") if item else (kind, kind)
    path = TIMING_DIR / kind / f"{name}.json"
    write_json(path, {"stage": stage,
                      "seconds": round(seconds, 2),
                      "finished": datetime.now(UTC).isoformat(timespec="seconds")})
    return path


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main``, log its wall time, and leave the heap to the process's end:
    ``gc.freeze`` spares the interpreter's last collections a walk over the objects torch
    made (0.6 s of every stage's exit on this machine; benchmarks/README.md)."""
    start = time.perf_counter()
    try:
        main()
    except ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    log_timing(time.perf_counter() - start, sys.argv[1:])
    gc.freeze()


def require_grid_config(cid: str, argument: str, plotted: bool = False) -> str:
    """``cid`` if it is a configuration of params.yaml's grid (and, ``plotted``, one of
    plots.configs); else ParamError (exit 2) naming the argument and the grid."""
    params = load_params()
    axes = grid(params)
    if cid not in {c["id"] for c in grid_configs(axes)}:
        described = "; ".join(f"{axis} {values}" for axis, values in axes.items())
        raise ParamError(f"{argument} {cid!r} is not a configuration of the grid in params.yaml "
                         f"({described})")
    configs = plotted_configs(params)
    if plotted and cid not in configs:
        raise ParamError(f"{argument} {cid!r} is not one of plots.configs in params.yaml "
                         f"({', '.join(configs) or 'none'})")
    return cid


def config_argument(description: str | None, plotted: bool = False) -> str:
    """The ``--config ID`` of a per-configuration stage: a configuration of the grid (and,
    ``plotted``, one of plots.configs)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True,
                        help="configuration id, e.g. mnist5k-relu-d4-w200-bnfalse")
    return require_grid_config(parser.parse_args().config, "--config", plotted)
