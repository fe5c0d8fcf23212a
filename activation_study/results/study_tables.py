"""The study-wide summary of the summarize stage: the per-configuration metrics gathered into
one study (accuracy, per-layer sparsity and dead nodes, epochs to the accuracy target, the
layer classifiers), its Markdown tables (Table 1 of 000, Tables 5.1 and 5.2 of 001) and the
layer classifiers' overview table of `dvc plots show`."""

from __future__ import annotations

import pandas as pd

from activation_study.results.tables import (
    STATES,
    classifier_markdown,
    classifier_rows,
    layer_rows,
    pm,
)

SUMMARY_KEYS = ("test_acc", "validation_acc", "train_acc", "generalisation_gap", "best_epoch")


def study_summary(grid: dict[str, list], configs: list[dict], details: dict[str, dict],
                  tolerance: float) -> dict:
    """The study: per configuration, its headline accuracies, per-layer sparsity, dead nodes,
    epochs to the target and layer classifiers (``details``: each configuration's metrics of
    tune, train, compute_metrics and classify_layers), and the configuration with the best
    test accuracy; ``tolerance`` is ``classify.tolerance``."""
    study: dict = {"grid": grid, "configs": {}, "sparsity": {}, "dead_nodes": {},
                   "epochs_to_target": {}, "layer_classifiers": {},
                   "classifier_tolerance": tolerance}
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
    return study


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
