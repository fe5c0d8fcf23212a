"""Reading and validating ``params.yaml``: every bad value fails here, before any long work."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation_study.activations import REGISTRY
from activation_study.configuration import grid_configs
from activation_study.layer_classifiers import ESTIMATORS, PRIORS

PARAMS_FILE = Path("params.yaml")
DATASETS = ("mnist", "fashion_mnist", "cifar10", "mnist5k", "digits")
LOCAL_DIR_ENV = "ACTIVATION_STUDY_DATA"


class ParamError(ValueError):
    """A parameter in params.yaml (or on the command line) has a value that is not allowed."""


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamError(f"{path}: parameter file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    if not isinstance(params, dict):
        raise ParamError(f"{path}: expected a mapping of parameter groups, "
                         f"got {type(params).__name__}")
    return params


def get(params: dict[str, Any], key: str) -> Any:
    """Look up a dotted key, naming it in the error when it is missing."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(f"params.yaml: missing key '{key}'")
        node = node[part]
    return node


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ParamError(f"params.yaml: '{key}' = {value!r} is not allowed; expected {allowed}")


def positive_int(params: dict[str, Any], key: str) -> int:
    value = get(params, key)
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, key, value,
            "an integer >= 1")
    return value


def is_number(value: Any) -> bool:
    """A finite int or float (YAML's true and false are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def positive_float(params: dict[str, Any], key: str) -> float:
    value = get(params, key)
    require(is_number(value) and value > 0, key, value, "a number > 0")
    return float(value)


def percentage_points(params: dict[str, Any], key: str) -> float:
    value = get(params, key)
    require(is_number(value) and 0 <= value <= 100, key, value, "percentage points in [0, 100]")
    return float(value)


def dataset_name(name: Any, key: str = "grid.datasets") -> str:
    require(name in DATASETS, key, name, f"one of {', '.join(DATASETS)}")
    return name


@dataclass(frozen=True)
class DataParams:
    local_dir: Path | None
    validation_size: int
    shipped_fractions: dict[str, float]
    split_seed: int


def data_params(params: dict[str, Any]) -> DataParams:
    local = get(params, "data.local_dir") or os.environ.get(LOCAL_DIR_ENV, "")
    fractions = get(params, "data.shipped_fractions")
    require(isinstance(fractions, dict) and set(fractions) == {"train", "validation", "test"},
            "data.shipped_fractions", fractions, "a mapping with keys train, validation, test")
    for part, value in fractions.items():
        positive_float(params, f"data.shipped_fractions.{part}")
        require(value < 1, f"data.shipped_fractions.{part}", value, "a fraction < 1")
    total = sum(fractions.values())
    require(abs(total - 1) < 1e-9, "data.shipped_fractions", fractions, "fractions summing to 1")
    seed = get(params, "data.split_seed")
    require(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
            "data.split_seed", seed, "an integer >= 0")
    return DataParams(
        local_dir=Path(local) if local else None,
        validation_size=positive_int(params, "data.validation_size"),
        shipped_fractions={k: float(v) for k, v in fractions.items()},
        split_seed=seed,
    )


def _int_list(params: dict[str, Any], key: str, minimum: int) -> list[int]:
    values = get(params, key)
    require(isinstance(values, list) and len(values) > 0, key, values, "a non-empty list")
    for v in values:
        require(isinstance(v, int) and not isinstance(v, bool) and v >= minimum, key, v,
                f"integers >= {minimum}")
    return values


def validate_grid(params: dict[str, Any]) -> dict[str, list]:
    """Check every axis of ``grid``; return it as lists."""
    datasets = get(params, "grid.datasets")
    require(isinstance(datasets, list) and datasets, "grid.datasets", datasets, "a non-empty list")
    for name in datasets:
        dataset_name(name)
    activations = get(params, "grid.activations")
    require(isinstance(activations, list) and activations, "grid.activations", activations,
            "a non-empty list")
    for name in activations:
        require(name in REGISTRY, "grid.activations", name, f"one of {', '.join(REGISTRY)}")
    batchnorm = get(params, "grid.batchnorm")
    require(isinstance(batchnorm, list) and batchnorm
            and all(isinstance(b, bool) for b in batchnorm),
            "grid.batchnorm", batchnorm, "a non-empty list of true/false")
    return {
        "datasets": datasets,
        "activations": activations,
        "depths": _int_list(params, "grid.depths", 1),
        "widths": _int_list(params, "grid.widths", 1),
        "batchnorm": batchnorm,
    }


def activation_shape(params: dict[str, Any], activation: str) -> float | None:
    """``train.shape.<activation>``: a number in the family's range, or null where the
    function has no shape parameter."""
    family = REGISTRY[activation]
    key = f"train.shape.{activation}"
    if family.shape is None:
        value = get(params, key)
        require(value is None, key, value, f"null ({activation} has no shape parameter)")
        return None
    value = positive_float(params, key)
    low, high = family.shape_range
    require(low < value < high, key, value, f"its {family.shape}, a number in ({low}, {high})")
    return value


def validate_train(params: dict[str, Any], activation: str) -> dict[str, Any]:
    """The ``train`` keys one configuration reads, checked; returns them as plain values."""
    require(activation in REGISTRY, "grid.activations", activation, f"one of {', '.join(REGISTRY)}")
    seeds = _int_list(params, "train.seeds", 0)
    require(len(set(seeds)) == len(seeds), "train.seeds", seeds, "distinct seeds")
    epochs = positive_int(params, "train.epochs")
    snapshots = get(params, "train.snapshot_epochs") or []
    require(isinstance(snapshots, list), "train.snapshot_epochs", snapshots, "a list of epochs")
    for e in snapshots:
        require(isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= epochs,
                "train.snapshot_epochs", e, f"epochs between 1 and train.epochs = {epochs}")
    decay = positive_float(params, "train.lr_decay")
    require(decay <= 1, "train.lr_decay", decay, "a factor in (0, 1]")
    device = get(params, "train.device")
    require(isinstance(device, str) and device.split(":")[0] in ("auto", "cpu", "cuda", "mps"),
            "train.device", device, "auto, cpu, cuda, cuda:N or mps")
    return {
        "seeds": seeds,
        "epochs": epochs,
        "batch_size": positive_int(params, "train.batch_size"),
        "lr_decay": decay,
        "snapshot_epochs": sorted(set(snapshots)),
        "device": device,
    }


AUTO_LR = "auto"


def learning_rate(params: dict[str, Any], activation: str) -> float | None:
    """``train.lr.<activation>``: a fixed Adam learning rate, or None for ``auto`` (searched
    by the tune stage)."""
    key = f"train.lr.{activation}"
    value = get(params, key)
    if value == AUTO_LR:
        return None
    require(is_number(value) and value > 0, key, value, f"a number > 0 or {AUTO_LR!r}")
    return float(value)


def validate_tune(params: dict[str, Any]) -> dict[str, Any]:
    """The ``tune`` keys of tune@CONFIG (the learning-rate search)."""
    grid = get(params, "tune.grid")
    require(isinstance(grid, list) and grid, "tune.grid", grid, "a non-empty list of rates")
    for rate in grid:
        require(is_number(rate) and rate > 0, "tune.grid", rate, "learning rates > 0")
    require(len({float(f"{r:.3g}") for r in grid}) == len(grid), "tune.grid", grid,
            "distinct rates (to 3 significant digits)")
    seeds = _int_list(params, "tune.seeds", 0)
    require(len(set(seeds)) == len(seeds), "tune.seeds", seeds, "distinct seeds")
    return {"grid": [float(r) for r in grid], "rounds": positive_int(params, "tune.rounds"),
            "epochs": positive_int(params, "tune.epochs"), "seeds": seeds}


INITIAL_BATCHNORM = ("training_set", "as_initialised")
EXTRACT_DTYPES = ("float16", "float32")
SETS = ("train", "validation", "test")


def validate_extract(params: dict[str, Any]) -> dict[str, Any]:
    """The ``extract`` keys of extract_activations@CONFIG."""
    per_class = get(params, "extract.samples_per_class")
    require(per_class is None or (isinstance(per_class, int) and not isinstance(per_class, bool)
                                  and per_class >= 1),
            "extract.samples_per_class", per_class, "null (all samples) or an integer >= 1")
    dtype = get(params, "extract.dtype")
    require(dtype in EXTRACT_DTYPES, "extract.dtype", dtype, " or ".join(EXTRACT_DTYPES))
    sets = get(params, "extract.sets")
    require(isinstance(sets, list) and sets and set(sets) <= set(SETS)
            and len(set(sets)) == len(sets) and "train" in sets,
            "extract.sets", sets, f"distinct names from {', '.join(SETS)}, including train")
    initial_bn = get(params, "extract.initial_batchnorm")
    require(initial_bn in INITIAL_BATCHNORM, "extract.initial_batchnorm", initial_bn,
            " or ".join(INITIAL_BATCHNORM))
    return {"samples_per_class": per_class, "dtype": dtype, "sets": sets,
            "initial_batchnorm": initial_bn}


def validate_analysis(params: dict[str, Any]) -> dict[str, Any]:
    """The ``analysis`` keys of compute_metrics@CONFIG."""
    target = positive_float(params, "analysis.accuracy_target")
    require(target <= 100, "analysis.accuracy_target", target, "a percentage in (0, 100]")
    return {"accuracy_target": target}


def validate_classify(params: dict[str, Any]) -> dict[str, Any]:
    """The ``classify`` keys of classify_layers@CONFIG (nodes and layers as classifiers)."""
    floor = positive_float(params, "classify.floor")
    require(1e-30 <= floor <= 0.01, "classify.floor", floor,
            "a number in [1e-30, 0.01], e.g. 1.0e-10 (densities are interpolated in float32)")
    prior = get(params, "classify.prior")
    require(prior in PRIORS, "classify.prior", prior, " or ".join(PRIORS))
    estimator = get(params, "classify.estimator")
    require(estimator in ESTIMATORS, "classify.estimator", estimator, " or ".join(ESTIMATORS))
    grid = positive_int(params, "classify.grid_per_bandwidth")
    require(grid >= 4, "classify.grid_per_bandwidth", grid, "an integer >= 4 (24 by default)")
    return {"bandwidth": positive_float(params, "classify.bandwidth"), "floor": floor,
            "prior": prior, "estimator": estimator, "grid_per_bandwidth": grid,
            "tolerance": percentage_points(params, "classify.tolerance")}


def validate_plots(params: dict[str, Any], grid: dict[str, list]) -> dict[str, Any]:
    """The ``plots`` keys: per-network figures for configurations of the grid."""
    configs = get(params, "plots.configs") or []
    known = {c["id"] for c in grid_configs(grid)}
    require(isinstance(configs, list), "plots.configs", configs, "a list of configuration ids")
    for cid in configs:
        require(cid in known, "plots.configs", cid,
                "ids of configurations in the grid, e.g. " + sorted(known)[0])
    seeds = get(params, "train.seeds")
    index = get(params, "plots.seed_index")
    require(isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(seeds),
            "plots.seed_index", index, f"an index into train.seeds (0..{len(seeds) - 1})")
    return {"configs": configs, "seed_index": index,
            "hist_nodes": positive_int(params, "plots.hist_nodes")}
