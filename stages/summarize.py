"""Stage summarize: one study-wide metrics file from the per-configuration metrics.

Writes metrics/summarize/study.json: per dataset, a table of test/validation/train accuracy
and generalisation gap (mean and s.e. over seeds) keyed by configuration id, and the grid.
"""

from __future__ import annotations

from pathlib import Path

from activation_study.io import read_json, write_json
from activation_study.params import ParamError, grid_configs, load_params, validate_grid
from stages._cli import run

SUMMARY_KEYS = ("test_acc", "validation_acc", "train_acc", "generalisation_gap", "best_epoch")
OUTPUT = Path("metrics/summarize/study.json")


def main() -> None:
    grid = validate_grid(load_params())
    study: dict = {"grid": grid, "configs": {}}
    for config in grid_configs(grid):
        path = Path("metrics/train") / f"{config['id']}.json"
        if not path.is_file():
            raise ParamError(f"{path} is missing: run `dvc repro` (stage train for {config['id']})")
        metrics = read_json(path)
        study["configs"][config["id"]] = {key: metrics[key] for key in SUMMARY_KEYS}
    best = max(study["configs"].items(), key=lambda kv: kv[1]["test_acc"]["mean"])
    study["best_test_acc"] = {"config": best[0], **best[1]["test_acc"]}
    write_json(OUTPUT, study)
    print(f"{len(study['configs'])} configurations summarised in {OUTPUT}")


if __name__ == "__main__":
    run(main)
