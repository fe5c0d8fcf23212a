"""Stage summarize: study-wide tables from the per-configuration metrics.

Reads metrics/<stage>/<id>.json of tune, train, compute_metrics and classify_layers and the
learning curves plots/train/<id>.csv of every configuration of the grid. Writes
metrics/summarize/headline.json, the only declared DVC metrics
(``activation_study.results.headline``:
a few numbers per configuration), metrics/summarize/study.json (accuracy per configuration;
per-layer sparsity and dead-node percentages, untrained and trained; per-layer accuracy of the
layer classifiers of the kept model) and metrics/summarize/tables.md, the same shaped like
Table 1 of 000 and Tables 5.1 and 5.2 of 001 (training set, mean +- s.e. over seeds) and the
data of Fig. 6.2-6.5;
and the long tables behind the overview charts of `dvc plots show` (dvc.yaml, top-level plots):
plots/summarize/learning_curves.csv, layer_sparsity.csv and layer_classifiers.csv, a row per
configuration and epoch or layer.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from pathlib import Path

import pandas as pd

from activation_study.common.atomic import write_atomic, write_csv, write_json
from activation_study.common.configs import grid_configs
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import get, load_params
from activation_study.common.param_reader import grid as read_grid
from activation_study.common.stage_entry import run
from activation_study.results.headline import HEADLINE, STAGES, config_headline
from activation_study.results.study_tables import classifier_overview, markdown, study_summary
from activation_study.results.tables import accuracy_table, curves_table, layer_table, read_metrics

OUTPUT = Path("metrics/summarize/study.json")
TABLES = Path("metrics/summarize/tables.md")
CURVES = Path("plots/train")
OVERVIEW = Path("plots/summarize")


def read_curves(config: dict) -> pd.DataFrame:
    path = CURVES / f"{config['id']}.csv"
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage train for {config['id']})")
    return pd.read_csv(path)


def main() -> None:
    params = load_params()
    grid = read_grid(params)
    configs = grid_configs(grid)
    details = {c["id"]: {stage: read_metrics(stage, c) for stage in STAGES} for c in configs}
    curves = {c["id"]: read_curves(c) for c in configs}
    study = study_summary(grid, configs, details, get(params, "classify.tolerance"))
    write_json(HEADLINE, {cid: config_headline(d) for cid, d in details.items()})
    write_json(OUTPUT, study)
    text = markdown(configs, study)
    write_atomic(TABLES, lambda p: p.write_text(text))
    write_csv(OVERVIEW / "learning_curves.csv", curves_table(configs, curves))
    of = {stage: {cid: d[stage] for cid, d in details.items()} for stage in STAGES}
    write_csv(OVERVIEW / "layer_sparsity.csv", layer_table(configs, of["compute_metrics"]))
    write_csv(OVERVIEW / "layer_classifiers.csv", classifier_overview(
        accuracy_table(of["classify_layers"], configs)))
    print(f"{len(configs)} configurations summarised in {HEADLINE}, {OUTPUT}, {TABLES} and "
          f"{OVERVIEW}/")


if __name__ == "__main__":
    run(main, "summarize")
