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
from activation_study.results.tables import (
    STATES,
    accuracy_table,
    classifier_markdown,
    classifier_rows,
    curves_table,
    layer_rows,
    layer_table,
    pm,
    read_metrics,
)

SUMMARY_KEYS = ("test_acc", "validation_acc", "train_acc", "generalisation_gap", "best_epoch")
OUTPUT = Path("metrics/summarize/study.json")
TABLES = Path("metrics/summarize/tables.md")
CURVES = Path("plots/train")
OVERVIEW = Path("plots/summarize")


def markdown(configs: list[dict], study: dict) -> str:
    depth = max(c["depth"] for c in configs)
    lines = ["# Study tables (mean ± s.e. over seeds)", "",
             "## Layer sparsity, % (Table 1 of 000, Table 5.2 of 001)", "",
             "Fraction of samples for which a live node is off, averaged over the layer's live "
             "nodes; dead nodes excluded.", "",
             "| configuration | state | " + " | ".join(f"layer {i}" for i in range(1, depth + 1))
             + " |", "|---|---|" + "---|" * depth]
    for c in configs:
        for state, label in STATES.items():
            cells = [pm(s) for s in study["sparsity"][c["id"]][state]]
            cells += [""] * (depth - len(cells))
            lines.append(f"| {c['id']} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Dead nodes, % of the network's hidden nodes (Table 5.1 of 001)", "",
              "| configuration | untrained | trained | trained, per layer |", "|---|---|---|---|"]
    for c in configs:
        dead = study["dead_nodes"][c["id"]]
        per_layer = ", ".join(pm(s) for s in dead["per_layer"]["best"])
        lines.append(f"| {c['id']} | {pm(dead['initial'])} | {pm(dead['best'])} | {per_layer} |")
    lines += ["", "## Epochs to reach the training-accuracy target (seed 002)", "",
              "| configuration | target % | epochs | seeds that reached it |", "|---|---|---|---|"]
    for c in configs:
        e = study["epochs_to_target"][c["id"]]
        lines.append(f"| {c['id']} | {e['target_train_acc']} | {pm(e)} | "
                     f"{e['reached']} of {len(e['per_seed'])} |")
    lines += classifier_markdown(configs, study, depth)
    return "\n".join(lines) + "\n"


def classifier_overview(accuracy: pd.DataFrame) -> pd.DataFrame:
    """The layer classifiers' test accuracy of the kept model, a row per configuration, system
    and layer (the network's own accuracy left out)."""
    rows = accuracy[(accuracy["state"] == "best") & (accuracy["set"] == "test")
                    & (accuracy["system"] != "network")]
    return rows.drop(columns=["state", "set"]).rename(columns={"mean": "test_acc",
                                                              "se": "test_acc_se"})


def read_curves(config: dict) -> pd.DataFrame:
    path = CURVES / f"{config['id']}.csv"
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage train for {config['id']})")
    return pd.read_csv(path)


def main() -> None:
    params = load_params()
    grid = read_grid(params)
    configs = grid_configs(grid)
    study: dict = {"grid": grid, "configs": {}, "sparsity": {}, "dead_nodes": {},
                   "epochs_to_target": {}, "layer_classifiers": {},
                   "classifier_tolerance": get(params, "classify.tolerance")}
    details = {c["id"]: {stage: read_metrics(stage, c) for stage in STAGES} for c in configs}
    curves = {c["id"]: read_curves(c) for c in configs}
    for config in configs:
        cid = config["id"]
        metrics, nodes = details[cid]["train"], details[cid]["compute_metrics"]
        study["configs"][cid] = {key: metrics[key] for key in SUMMARY_KEYS}
        study["sparsity"][cid] = layer_rows(nodes, "sparsity_pct")
        study["dead_nodes"][cid] = {
            **{state: nodes["states"][state]["train"]["network"]["dead_pct"] for state in STATES},
            "per_layer": layer_rows(nodes, "dead_pct"),
        }
        study["epochs_to_target"][cid] = nodes["epochs_to_target"]
        study["layer_classifiers"][cid] = classifier_rows(details[cid]["classify_layers"])
    best = max(study["configs"].items(), key=lambda kv: kv[1]["test_acc"]["mean"])
    study["best_test_acc"] = {"config": best[0], **best[1]["test_acc"]}
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
