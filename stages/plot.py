"""Stage plot: the dissertation's figures from the train stage's curves and metrics.

Reads plots/train/<id>.csv, metrics/train/<id>.json and metrics/compute_metrics/<id>.json of
every configuration of the current grid (files of configurations no longer in the grid are
ignored). Writes plots/plot/ as one folder:
learning_curves_<dataset>_w<width>.png (Fig. 3.2), test_accuracy_vs_depth_<dataset>.png
(Fig. 3.4) and sparsity_dead_nodes_<dataset>.png (per-layer sparsity and dead nodes,
untrained and trained, training set: Table 1 of 000 and Tables 5.1/5.2 of 001 as bars).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from pathlib import Path
from typing import Any

import pandas as pd

from activation_study.common.atomic import atomic_path, read_json
from activation_study.common.configs import FIELDS, grid_configs, stage_address
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import grid as read_grid
from activation_study.common.param_reader import load_params
from activation_study.common.stage_entry import run
from activation_study.figures.curves import CURVE_COLUMNS, DPI, write_figures
from activation_study.figures.sparsity import STATES, sparsity_dead_bars
from activation_study.results.tables import layer_table, read_metrics

CURVES = Path("plots/train")
METRICS = Path("metrics/train")
OUTPUT = Path("plots/plot")


def read_curves(path: Path, stage: str) -> pd.DataFrame:
    curves = pd.read_csv(path)
    absent = [col for col in CURVE_COLUMNS if col not in curves.columns]
    if absent:
        raise ParamError(f"{path}: no column {', '.join(absent)}; rerun `dvc repro {stage}`")
    return curves


def read_inputs(configs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curves (a row per configuration and epoch) and test accuracy (a row per configuration),
    each with the configuration's ``FIELDS`` and number of ``seeds`` as columns."""
    missing = [f"{path} is missing: run `dvc repro {stage_address('train', c['id'])}`"
               for c in configs
               for path in (CURVES / f"{c['id']}.csv", METRICS / f"{c['id']}.json")
               if not path.is_file()]
    if missing:
        raise ParamError("plot needs the train stage's outputs:\n  " + "\n  ".join(missing))
    curves, results = [], []
    for config in configs:
        metrics = read_json(METRICS / f"{config['id']}.json")
        keys = {key: config[key] for key in FIELDS} | {"seeds": len(metrics["seeds"])}
        stage = stage_address("train", config["id"])
        curves.append(read_curves(CURVES / f"{config['id']}.csv", stage).assign(**keys))
        results.append({**keys, "test_acc": metrics["test_acc"]["mean"],
                        "test_acc_se": metrics["test_acc"]["se"]})
    results_frame = pd.DataFrame(results).astype({"test_acc": float, "test_acc_se": float})
    return pd.concat(curves, ignore_index=True), results_frame


def main() -> None:
    grid = read_grid(load_params())
    configs = grid_configs(grid)
    curves, results = read_inputs(configs)
    layers = layer_table(configs, {c["id"]: read_metrics("compute_metrics", c)
                                   for c in configs}, STATES)
    with atomic_path(OUTPUT) as folder:
        written = write_figures(curves, results, folder)
        for dataset, table in layers.groupby("dataset"):
            path = folder / f"sparsity_dead_nodes_{dataset}.png"
            sparsity_dead_bars(table).savefig(path, dpi=DPI)
            written.append(path)
    for path in written:
        print(OUTPUT / path.name)


if __name__ == "__main__":
    run(main, "plot")
