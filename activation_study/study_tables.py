"""Reading the per-configuration metrics and shaping them into the study's tables; shared by
the summarize and report stages."""

from __future__ import annotations

from pathlib import Path

from activation_study.io import read_json
from activation_study.params import ParamError

STATES = {"initial": "untrained", "best": "trained"}


def read_metrics(folder: str, config: dict) -> dict:
    """``metrics/<folder>/<config id>.json``, or an error naming the stage that makes it."""
    path = Path("metrics") / folder / f"{config['id']}.json"
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage {folder} for {config['id']})")
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
