"""Reading the per-configuration metrics and shaping them into the study's tables; shared by
the summarize and report stages."""

from __future__ import annotations

import pandas as pd

from activation_study.common.atomic import read_json
from activation_study.common.errors import ParamError
from activation_study.results.headline import detail_path

STATES = {"initial": "untrained", "best": "trained"}


def read_metrics(stage: str, config: dict) -> dict:
    """``metrics/<stage>/<config id>.json``, or an error naming the stage that makes it."""
    path = detail_path(stage, config["id"])
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage {stage} for {config['id']})")
    return read_json(path)


def pm(stat: dict) -> str:
    """``mean ± se`` to 2 decimals (``n/a`` when undefined)."""
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean']:.2f}" + ("" if stat["se"] is None else f" ± {stat['se']:.2f}")


def layer_rows(nodes: dict, key: str) -> dict[str, list[dict]]:
    """Per state, the per-layer ``{mean, se}`` of ``key`` on the training set."""
    return {state: [v[key] for name, v in nodes["states"][state]["train"].items()
                    if name.startswith("layer_")] for state in STATES}


def classifier_rows(classify: dict) -> dict:
    """Per set of the kept model: each system's per-layer ``{mean, se}``, the network's, and
    the first layer within the tolerance of the network (of the means over seeds)."""
    result = {}
    for part, values in classify["states"]["best"].items():
        layers = [v for name, v in values.items() if name.startswith("layer_")]
        result[part] = {
            "layers": {system: [{"mean": v[system]["mean"], "se": v[system]["se"]}
                                for v in layers] for system in classify["systems"]},
            "network": {k: values["network"][k] for k in ("mean", "se")},
            "reaches_network": {system: r["of_mean"]
                                for system, r in values["reaches_network"].items()},
        }
    return result


def classifier_markdown(configs: list[dict], study: dict, depth: int) -> list[str]:
    """The layer-classifier table of ``study`` (summarize's study.json), as markdown lines."""
    tolerance = study["classifier_tolerance"]
    lines = ["", "## Layers as classifiers, kept model (Fig. 6.2-6.5 of 001)", "",
             "Accuracy (%) of each layer as a naive-Bayes classifier over its nodes, next to the "
             f"network's own; *reaches* = first layer within {tolerance} pp of the network "
             "(means over seeds).", "",
             "| configuration | set | system | "
             + " | ".join(f"layer {i}" for i in range(1, depth + 1))
             + " | network | reaches |", "|---|---|---|" + "---|" * (depth + 2)]
    for c in configs:
        for part, values in study["layer_classifiers"][c["id"]].items():
            for system, per_layer in values["layers"].items():
                cells = [pm(s) for s in per_layer] + [""] * (depth - len(per_layer))
                reached = values["reaches_network"][system]
                lines.append(f"| {c['id']} | {part} | {system} | " + " | ".join(cells)
                             + f" | {pm(values['network'])} | "
                             + ("never" if reached is None else f"layer {reached}") + " |")
    return lines


CONFIG_COLUMNS = ("config", "dataset", "activation", "depth", "width", "batchnorm")


def _config_columns(config: dict) -> dict:
    return {"config": config["id"], **{k: config[k] for k in CONFIG_COLUMNS[1:]}}


def curves_table(configs: list[dict], curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table of the learning curves, a row per configuration and epoch (epoch 0, the
    initialisation, left out): training and validation accuracy, mean and s.e. over seeds.
    ``curves`` maps a configuration id to its plots/train/<id>.csv."""
    columns = ["epoch", "train_acc", "train_acc_se", "validation_acc", "validation_acc_se"]
    frames = [curves[c["id"]].loc[lambda f: f["epoch"] >= 1, columns]
              .assign(**_config_columns(c)) for c in configs]
    return pd.concat(frames, ignore_index=True)[[*CONFIG_COLUMNS, *columns]]


def layer_table(configs: list[dict], nodes: dict[str, dict],
                states: tuple[str, ...] = ("best",)) -> pd.DataFrame:
    """Long table of sparsity and dead nodes (training set, mean and s.e. over seeds), a row per
    configuration, model state and hidden layer; ``nodes`` maps an id to its compute_metrics."""
    rows = [{**_config_columns(c), "state": state, "layer": int(name.removeprefix("layer_")),
             **{f"{q}{suffix}": values[q][stat] for q in ("sparsity_pct", "dead_pct")
                for suffix, stat in (("", "mean"), ("_se", "se"))}}
            for c in configs for state in states
            for name, values in nodes[c["id"]]["states"][state]["train"].items()
            if name.startswith("layer_")]
    return pd.DataFrame(rows).astype({"sparsity_pct": float, "sparsity_pct_se": float,
                                      "dead_pct": float, "dead_pct_se": float})


def accuracy_table(metrics: dict[str, dict], configs: list[dict]) -> pd.DataFrame:
    """Long table of the layer classifiers, a row per configuration, state, set, system and
    layer (``mean``, ``se`` over seeds); the network's own accuracy is system ``network`` at
    layer 0. ``metrics`` maps an id to its classify_layers metrics."""
    rows = []
    for config in configs:
        keys = _config_columns(config)
        for state, parts in metrics[config["id"]]["states"].items():
            for part, values in parts.items():
                for name, per_system in values.items():
                    if name.startswith("layer_"):
                        layer = int(name.removeprefix("layer_"))
                        rows += [{**keys, "state": state, "set": part, "system": system,
                                  "layer": layer, "mean": v["mean"], "se": v["se"]}
                                 for system, v in per_system.items()]
                rows.append({**keys, "state": state, "set": part, "system": "network",
                             "layer": 0, "mean": values["network"]["mean"],
                             "se": values["network"]["se"]})
    return pd.DataFrame(rows).astype({"mean": float, "se": float})
