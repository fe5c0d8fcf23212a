"""The stage entry: ``run`` (errors as one line, exit status 2; a timing log of each run) and
the command-line arguments that name a configuration."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from activation_study.common.atomic import write_json
from activation_study.common.configs import ID_PATTERN, grid_configs, stage_name
from activation_study.common.errors import ERRORS, ParamError
from activation_study.common.param_reader import grid, load_params, plotted_configs
from activation_study.numerics import machine_details

TIMING_DIR = Path("logs/timing")


def log_timing(kind: str, item: str | None, seconds: float) -> Path:
    """Write the wall time of a run of stage kind ``kind`` on matrix item ``item`` (a
    configuration id, a dataset's name, None for a stage that runs once) under its DVC stage's
    name, ``train@mnist5k-relu-2-200-False``, ``download@digits`` or ``summarize``; with the
    machine it ran on (CPU model and vendor), which tracked outputs never record."""
    if item is None:
        name, stage = kind, kind
    else:
        name = item
        stage = stage_name(kind, item) if ID_PATTERN.fullmatch(item) else f"{kind}@{item}"
    path = TIMING_DIR / kind / f"{name}.json"
    write_json(path, {"stage": stage,
                      "seconds": round(seconds, 2),
                      "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                      "machine": machine_details()})
    return path


def run(main: Callable[[], str | None], kind: str) -> None:
    """Run the ``main`` of stage kind ``kind``, which returns the matrix item it processed
    (None for a stage that runs once), log its wall time, and leave the heap to the process's
    end: ``gc.freeze`` spares the interpreter's last collections a walk over the objects torch
    made (0.6 s of every stage's exit on this machine; benchmarks/README.md)."""
    start = time.perf_counter()
    try:
        item = main()
    except ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    log_timing(kind, item, time.perf_counter() - start)
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
