"""What every stage but ``validate`` runs on, in one module.

A stage's code dependencies in dvc.yaml are the modules it imports, and an edit of any of them
makes the stage stale. The pieces below are used by nearly every stage, so they are one file:
one dependency per stage instead of six, so that a ``train`` stage lists training's own code
and this file only (docs/layout.md, "What an edit reruns"). ``validate`` imports none of it:
it checks params.yaml with the schema alone, so editing this file reruns no validation.

- the two errors a stage reports as a one-line message (exit status 2): ``ParamError``,
  ``DataError``;
- atomic writes: an interrupted stage never leaves a half-written file that DVC would accept;
- a configuration's identity and its spellings (its id, its DVC stage name, its command line);
- the keys of params.yaml a stage reads, with checks of what it uses and clear errors, but
  without the schema or pydantic (the ``validate`` stage checks the whole file first);
- mean and standard error over seeds, the way the dissertation reports them;
- the stage entry: ``run`` (errors as one line; a timing log of each run) and the
  command-line arguments that name a configuration.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from activation_study.numerics import machine_details

if TYPE_CHECKING:
    import pandas as pd


# --- Errors -----------------------------------------------------------------------------

class ParamError(ValueError):
    """A parameter in params.yaml (or on the command line) has a value that is not allowed."""


class DataError(RuntimeError):
    """A dataset file is missing, truncated, corrupted or not what was expected."""


# --- Atomic writes ----------------------------------------------------------------------

def stale_temporaries(path: Path) -> list[Path]:
    """The temporary siblings ``atomic_path(path)`` left when its process was killed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``path`` only if the block succeeds.

    Works for files and directories: whatever the block creates at the yielded path
    replaces ``path`` in one rename. Temporary siblings of ``path`` left by a killed run
    are removed first: one output has one writer at a time (DVC locks its stage), and a
    leftover under a directory that another stage depends on would change its hash.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically, keys in insertion order, with a trailing newline."""
    text = json.dumps(obj, indent=2) + "\n"
    write_atomic(path, lambda p: p.write_text(text))


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a table atomically as CSV without the index (6 significant digits)."""
    write_atomic(path, lambda p: frame.to_csv(p, index=False, float_format="%.6g"))


def significant(value: float, digits: int) -> float | None:
    """``value`` to ``digits`` significant digits for JSON (variances can be 1e-7); NaN -> None."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


# --- Configurations ---------------------------------------------------------------------

FIELDS = ("dataset", "activation", "depth", "width", "batchnorm")  # dvc.yaml's matrix order
ID_PATTERN = re.compile(r"(?P<dataset>[^-]+)-(?P<activation>[^-]+)-d(?P<depth>\d+)"
                        r"-w(?P<width>\d+)-bn(?P<batchnorm>true|false)")
# stages whose dvc.yaml matrix is the list plots.configs of ids, not the grid's five axes
ID_MATRIX_STAGES = frozenset({"plot_activations"})


def config_id(dataset: str, activation: str, depth: int, width: int, batchnorm: bool) -> str:
    """The id of one configuration, e.g. ``mnist5k-relu-d4-w200-bnfalse``."""
    return f"{dataset}-{activation}-d{depth}-w{width}-bn{str(batchnorm).lower()}"


def parse_config_id(cid: str) -> dict[str, Any]:
    """The configuration an id names, as a row of ``grid_configs``; ValueError if it is not an
    id."""
    match = ID_PATTERN.fullmatch(cid)
    if not match:
        raise ValueError(f"{cid!r} is not a configuration id like "
                         "mnist5k-relu-d4-w200-bnfalse")
    parts = match.groupdict()
    return {"dataset": parts["dataset"], "activation": parts["activation"],
            "depth": int(parts["depth"]), "width": int(parts["width"]),
            "batchnorm": parts["batchnorm"] == "true", "id": cid}


def stage_name(kind: str, cid: str) -> str:
    """The dvc.yaml matrix stage of kind ``kind`` that processes configuration ``cid``, e.g.
    ``train@mnist5k-relu-4-200-False`` for ``mnist5k-relu-d4-w200-bnfalse``."""
    if kind in ID_MATRIX_STAGES:
        return f"{kind}@{cid}"
    config = parse_config_id(cid)
    return f"{kind}@" + "-".join(str(config[field]) for field in FIELDS)


def command_line_id(argv: list[str]) -> str | None:
    """The id of the configuration a stage's command line names, None if it names none."""
    values = dict(zip(argv[::2], argv[1::2], strict=False))
    if "--config" in values:
        return parse_config_id(values["--config"])["id"]
    flags = [f"--{field}" for field in FIELDS]
    if not all(flag in values for flag in flags):
        return None
    dataset, activation, depth, width, batchnorm = (values[flag] for flag in flags)
    return config_id(dataset, activation, int(depth), int(width), batchnorm == "true")


def grid_configs(grid: dict[str, list]) -> list[dict[str, Any]]:
    """Every configuration of the grid, in dvc.yaml's matrix order: dicts with the keys of
    ``FIELDS`` and ``id``."""
    return [
        {"dataset": d, "activation": a, "depth": n, "width": w, "batchnorm": b,
         "id": config_id(d, a, n, w, b)}
        for d, a, n, w, b in itertools.product(grid["datasets"], grid["activations"],
                                               grid["depths"], grid["widths"], grid["batchnorm"])
    ]


# --- Parameters -------------------------------------------------------------------------

PARAMS_FILE = Path("params.yaml")
LOCAL_DIR_ENV = "ACTIVATION_STUDY_DATA"
AUTO_LR = "auto"
GRID_AXES = ("datasets", "activations", "depths", "widths", "batchnorm")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The parameter file as read (YAML 1.1, PyYAML's safe loader)."""
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: parameter file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    if not isinstance(params, dict):
        raise ParamError(f"{path}: expected a mapping of parameter groups")
    return params


def get(params: dict[str, Any], key: str) -> Any:
    """Look up a dotted key, naming it in the error when it is missing."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(f"params.yaml: missing key '{key}'")
        node = node[part]
    return node


def not_allowed(key: str, value: Any, allowed: str) -> str:
    return f"params.yaml: '{key}' = {value!r} is not allowed; expected {allowed}"


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ParamError(not_allowed(key, value, allowed))


def group(params: dict[str, Any], name: str) -> dict[str, Any]:
    """One group of keys (``tune``, ``extract``, ...) as a mapping."""
    value = get(params, name)
    require(isinstance(value, dict), name, value, "a mapping of keys")
    return dict(value)


def grid(params: dict[str, Any]) -> dict[str, list]:
    """Every axis of ``grid``, as lists."""
    axes = {axis: get(params, f"grid.{axis}") for axis in GRID_AXES}
    for axis, values in axes.items():
        require(isinstance(values, list) and values, f"grid.{axis}", values, "a non-empty list")
    return axes


def activation_shape(params: dict[str, Any], activation: str) -> float | None:
    """``train.shape.<activation>``: a number, or None where the function has no shape."""
    key = f"train.shape.{activation}"
    shape = get(params, key)
    require(shape is None or (isinstance(shape, int | float) and not isinstance(shape, bool)),
            key, shape, "a number or null")
    return None if shape is None else float(shape)


def learning_rate(params: dict[str, Any], activation: str) -> float | None:
    """``train.lr.<activation>``: a fixed Adam learning rate, or None for ``auto`` (searched
    by the tune stage)."""
    key = f"train.lr.{activation}"
    rate = get(params, key)
    if rate == AUTO_LR:
        return None
    require(isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0, key,
            rate, f"a learning rate > 0 or {AUTO_LR!r}")
    return float(rate)


TRAIN_KEYS = ("seeds", "epochs", "batch_size", "lr_decay", "snapshot_epochs", "device",
              "checkpoint_every", "cpu_threads", "compile", "matmul_precision")


def train_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The ``train`` keys a configuration's training reads (not lr and shape: per activation)."""
    train = {key: get(params, f"train.{key}") for key in TRAIN_KEYS}
    train["snapshot_epochs"] = sorted(train["snapshot_epochs"] or [])
    return train


def plotted_configs(params: dict[str, Any]) -> list[str]:
    """``plots.configs``: the configuration ids with per-network figures."""
    return list(get(params, "plots.configs") or [])


def user_files(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``data.files``: datasets of your own, name -> {path, classes, sha256}."""
    files = get(params, "data.files")
    require(isinstance(files, dict), "data.files", files, "a mapping: name -> {path, classes, "
            "sha256}")
    return files


@dataclass(frozen=True)
class DataParams:
    local_dir: Path | None
    validation_size: int
    shipped_fractions: dict[str, float]
    split_seed: int


def data_params(params: dict[str, Any]) -> DataParams:
    local = get(params, "data.local_dir") or os.environ.get(LOCAL_DIR_ENV, "")
    return DataParams(local_dir=Path(local) if local else None,
                      validation_size=get(params, "data.validation_size"),
                      shipped_fractions=dict(get(params, "data.shipped_fractions")),
                      split_seed=get(params, "data.split_seed"))


# --- Statistics over seeds --------------------------------------------------------------

def mean_se(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (std with ddof=1 over sqrt(n)); se is NaN for a single seed."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, values.std(axis=axis, ddof=1) / np.sqrt(n)


def summary(values, digits: int = 4) -> dict[str, float | None]:
    """``{"mean": m, "se": s}`` for JSON metrics (se null for a single seed)."""
    mean, se = mean_se(values)
    return {"mean": round(float(mean), digits),
            "se": None if np.isnan(se) else round(float(se), digits)}


def seed_scalars(values, digits: int = 5) -> dict:
    """``{mean, se, per_seed}`` of one per-seed scalar over the seeds where it is defined.

    NaN (e.g. the sparsity of an all-dead layer) is left out of mean and se, and is null;
    values are rounded to ``digits`` significant digits.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    mean, se = mean_se(finite) if len(finite) else (np.nan, np.nan)
    return {"mean": significant(mean, digits), "se": significant(se, digits),
            "per_seed": [significant(v, digits) for v in values]}


# --- The stage entry --------------------------------------------------------------------

ERRORS = (ParamError, DataError)

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
