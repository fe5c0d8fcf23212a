"""Stage report: reports/study.md, what the study ran and found, readable on its own.

Reads params.yaml (grid, train.epochs, train.batch_size, train.lr_decay, classify.tolerance,
plots.configs, report.tolerance, report.wall_times); metrics/split/<dataset>.json,
metrics/train/<id>.json, metrics/compute_metrics/<id>.json and
metrics/classify_layers/<id>.json of every configuration of the grid; metrics/tune/<id>.json
where present; the figures under plots/ that exist (and those plot_activations@ID makes for
plots.configs); and, with report.wall_times, the untracked run logs
logs/timing/<stage>/<name>.json where present (a fresh clone has none): they change with
every rerun, so by default the report leaves them out and is a function of its dependencies.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

import json
from pathlib import Path
from typing import Any

from activation_study.common.atomic import read_json, write_atomic
from activation_study.common.configs import grid_configs
from activation_study.common.param_reader import get, load_params, plotted_configs
from activation_study.common.param_reader import grid as read_grid
from activation_study.common.stage_entry import TIMING_DIR, run
from activation_study.results.report.common import StudyInputs, candidate_figures
from activation_study.results.report.render import render_report
from activation_study.results.tables import read_metrics

OUTPUT = Path("reports/study.md")
TUNE = Path("metrics/tune")
TIMING_KEYS = ("stage", "seconds", "finished")
PER_NETWORK_FIGURES = "plots/plot_activations/"


def read_timings(folder: Path = TIMING_DIR) -> list[dict]:
    """Every run log ``<folder>/<stage kind>/<name>.json`` with its ``kind`` added, in path
    order; a file that is not such a record (e.g. cut short by a kill) is skipped."""
    records = []
    for path in sorted(folder.glob("*/*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and all(k in record for k in TIMING_KEYS):
            records.append({**record, "kind": path.parent.name})
    return records


def load_inputs(params: dict[str, Any]) -> StudyInputs:
    """Everything the report reads, from the working directory (the repository root)."""
    grid = read_grid(params)
    configs = grid_configs(grid)
    figures = candidate_figures(configs, plotted_configs(params))
    return StudyInputs(
        grid=grid,
        configs=configs,
        train={c["id"]: read_metrics("train", c) for c in configs},
        nodes={c["id"]: read_metrics("compute_metrics", c) for c in configs},
        classify={c["id"]: read_metrics("classify_layers", c) for c in configs},
        splits={d: read_metrics("split", {"id": d}) for d in grid["datasets"]},
        recipe={key: get(params, f"train.{key}") for key in ("epochs", "batch_size",
                                                             "lr_decay")},
        tolerance=get(params, "report.tolerance"),
        classifier_tolerance=get(params, "classify.tolerance"),
        tune={c["id"]: read_json(TUNE / f"{c['id']}.json") for c in configs
              if (TUNE / f"{c['id']}.json").is_file()},
        timings=read_timings() if get(params, "report.wall_times") else None,
        # plot_activations@ID makes its figures for every id of plots.configs: the report does
        # not depend on them (no such folder when the list is empty), so they are linked as made
        figures=[f for f in figures
                 if Path(f.path).is_file() or f.path.startswith(PER_NETWORK_FIGURES)],
    )


def main() -> None:
    text = render_report(load_inputs(load_params()))
    write_atomic(OUTPUT, lambda p: p.write_text(text))
    print(f"{OUTPUT}: {len(text.splitlines())} lines")


if __name__ == "__main__":
    run(main, "report")
