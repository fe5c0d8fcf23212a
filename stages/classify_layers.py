"""Stage classify_layers@CONFIG: nodes and layers as classifiers (dissertation ch. 6).

Reads data/extract_activations/<config>/. For every model state (initial, each snapshot epoch,
best) the likelihoods of every hidden node are fitted on that state's training-set
pre-activations, and each layer classifies every extracted set with the discrete and the
continuous system (and the combined one where the activation's registry entry says it
applies). The network's own accuracy is measured on the same samples.

Writes metrics/classify_layers/<config>.json (``states.<state>.<set>.layer_k.<system>`` and
``.network``: mean, se and per seed; ``reaches_network``: the first layer whose mean accuracy
is within ``classify.tolerance`` of the network's).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from activation_study.analysis.extraction import load_extraction
from activation_study.analysis.layer_classifiers import SYSTEMS, layer_accuracies
from activation_study.common.atomic import write_json
from activation_study.common.param_reader import get, group, load_params
from activation_study.common.seed_stats import seed_scalars
from activation_study.common.stage_entry import config_argument, run
from activation_study.network.model import (
    get_activation,
    resolve_device,
    use_cpu_threads,
    use_deterministic_algorithms,
)
from activation_study.numerics import stage_fingerprint

EXTRACTIONS = Path("data/extract_activations")
METRICS = Path("metrics/classify_layers")


def systems_for(activation: str) -> tuple[str, ...]:
    """discrete and continuous always; combined where it approximates the network (ReLU)."""
    combined = get_activation(activation).combined_system
    return tuple(s for s in SYSTEMS if s != "combined" or combined)


def reaches_network(layers: dict, network: dict, systems: tuple[str, ...],
                    tolerance: float) -> dict:
    """Per system, the first layer (1-based) whose accuracy is within ``tolerance`` pp of the
    network's: ``of_mean`` on the means over seeds, ``per_seed`` seed by seed (null: never)."""
    keys = sorted(layers, key=lambda k: int(k.removeprefix("layer_")))

    def first(values: list[float], target: float) -> int | None:
        return next((i + 1 for i, v in enumerate(values) if v >= target - tolerance), None)

    result = {}
    for system in systems:
        means = [layers[k][system]["mean"] for k in keys]
        per_seed = np.array([layers[k][system]["per_seed"] for k in keys])  # (layers, seeds)
        result[system] = {
            "of_mean": first(means, network["mean"]),
            "per_seed": [first(per_seed[:, i].tolist(), target)
                         for i, target in enumerate(network["per_seed"])],
        }
    return result


def classify_state(extraction: dict, state: str, systems: tuple[str, ...],
                   settings: dict, device: torch.device) -> dict:
    """``{set: {layer_k: {system: scalars}, network: scalars, reaches_network: ...}}``."""
    spec, labels = extraction["spec"], extraction["labels"]
    act = get_activation(spec["activation"], spec.get("shape"))

    def is_on(z: torch.Tensor) -> torch.Tensor:
        return act.fn(z) > act.on_threshold

    options = {k: settings[k] for k in ("bandwidth", "floor", "prior", "estimator",
                                        "grid_per_bandwidth")}
    parts = extraction["sets"]
    result: dict = {part: {} for part in parts}
    for layer in range(spec["depth"]):
        evaluations = {part: (extraction["pre"][state, part][layer], labels[part])
                       for part in parts}
        accuracy = layer_accuracies(evaluations["train"][0], labels["train"], evaluations,
                                    spec["num_classes"], is_on, systems, device=device,
                                    **options)
        for part in parts:
            result[part][f"layer_{layer + 1}"] = {
                system: seed_scalars(accuracy[system][part]) for system in systems}
    for part in parts:
        correct = extraction["predicted"][state, part] == labels[part][None, :]
        network = seed_scalars(100.0 * correct.mean(axis=1))
        result[part]["network"] = network
        layers = {k: v for k, v in result[part].items() if k.startswith("layer_")}
        result[part]["reaches_network"] = reaches_network(layers, network, systems,
                                                          settings["tolerance"])
    return result


def main() -> str:
    config = config_argument(__doc__)
    params = load_params()
    settings = group(params, "classify")
    use_cpu_threads(get(params, "train.cpu_threads"))
    device = resolve_device(get(params, "train.device"))
    if device.type == "cuda":  # index_add_ of the binned KDE: sorted, not atomic
        use_deterministic_algorithms(device)
    extraction = load_extraction(EXTRACTIONS / config)
    systems = systems_for(extraction["spec"]["activation"])
    metrics = {"config": config, "seeds": extraction["seeds"], "systems": list(systems),
               "states": {}}
    start = time.perf_counter()
    for state in tqdm(extraction["states"], desc=f"classify {config}", unit="state"):
        metrics["states"][state] = classify_state(extraction, state, systems, settings, device)
    seconds = time.perf_counter() - start
    metrics["numerics"] = stage_fingerprint(params, device)
    write_json(METRICS / f"{config}.json", metrics)
    best = metrics["states"]["best"]
    shown = "test" if "test" in best else "train"
    layers = [v for k, v in best[shown].items() if k.startswith("layer_")]
    print(f"{config}: {seconds:.1f} s on {device}; kept model, {shown} accuracy per layer "
          + "; ".join(f"{s} {[v[s]['mean'] for v in layers]}" for s in systems)
          + f"; network {best[shown]['network']['mean']}")
    return config


if __name__ == "__main__":
    run(main, "classify_layers")
