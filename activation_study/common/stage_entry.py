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
from activation_study.common.configs import command_line_id, config_id, grid_configs, stage_name
from activation_study.common.errors import ERRORS, ParamError
from activation_study.common.param_reader import grid, load_params, plotted_configs
from activation_study.numerics import machine_details

TIMING_DIR = Path("logs/timing")


def stage_kind() -> str:
    """The running stage module's name (``train`` for ``python -m stages.train``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return (spec.name if spec else Path(sys.argv[0]).stem).rsplit(".", 1)[-1]


def log_timing(seconds: float, argv: list[str]) -> Path:
    """Write the wall time of this run under its DVC stage's name: the configuration id for a
    per-configuration stage, else the command line's values (``download@digits``); with the
    machine it ran on (CPU model and vendor), which tracked outputs never record."""
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
                      "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                      "machine": machine_details()})
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


def network_arguments(description: str | None) -> argparse.Namespace:
    """The configuration of a train or tune stage: ``--dataset --activation --depth --width
    --batchnorm``, a configuration of params.yaml's grid; adds ``id``, the configuration id,
    and makes ``batchnorm`` a bool."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batchnorm", choices=("true", "false"), required=True)
    args = parser.parse_args()
    args.batchnorm = args.batchnorm == "true"
    args.id = require_grid_config(
        config_id(args.dataset, args.activation, args.depth, args.width, args.batchnorm),
        "--dataset/--activation/--depth/--width/--batchnorm")
    return args
