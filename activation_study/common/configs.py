"""A configuration's identity and its spellings: its id (``mnist5k-relu-d4-w200-bnfalse``),
its DVC stage name (``train@mnist5k-relu-4-200-False``) and address, its command line, and the
grid's configurations in dvc.yaml's matrix order."""

from __future__ import annotations

import itertools
import re
from typing import Any

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


def stage_address(kind: str, cid: str) -> str:
    """How `dvc repro`, run in the repository's root, names the stage of kind ``kind`` that
    processes ``cid``: ``pipelines/train/dvc.yaml:train@mnist5k-relu-4-200-False`` (each
    per-configuration kind has a pipeline file of its own, ``pipelines/<kind>/dvc.yaml``);
    ``plot_activations@ID`` for the root file's matrix stages."""
    name = stage_name(kind, cid)
    return name if kind in ID_MATRIX_STAGES else f"pipelines/{kind}/dvc.yaml:{name}"


def grid_configs(grid: dict[str, list]) -> list[dict[str, Any]]:
    """Every configuration of the grid, in dvc.yaml's matrix order: dicts with the keys of
    ``FIELDS`` and ``id``."""
    return [
        {"dataset": d, "activation": a, "depth": n, "width": w, "batchnorm": b,
         "id": config_id(d, a, n, w, b)}
        for d, a, n, w, b in itertools.product(grid["datasets"], grid["activations"],
                                               grid["depths"], grid["widths"], grid["batchnorm"])
    ]
