"""Stage compute_metrics@CONFIG: the node-level analyses of chapters 4-5 and seeds 002-004.

Reads data/extract_activations/<config>/ and data/train/<config>/history.csv. Writes
per-node arrays to data/compute_metrics/<config>/<state>_<set>_<key>.npy (layers first) and
per-layer scalars (mean and s.e. over seeds, and per seed) to metrics/compute_metrics/<config>.json.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from activation_study.analysis.extraction import FLOW_KEYS, load_extraction
from activation_study.analysis.node_metrics import epochs_to_target, layer_summary
from activation_study.common.atomic import atomic_path, write_json
from activation_study.common.param_reader import get, group, load_params
from activation_study.common.seed_stats import seed_scalars, summary
from activation_study.common.stage_entry import config_argument, run
from activation_study.network.model import get_activation, use_cpu_threads
from activation_study.numerics import stage_fingerprint

NODE_KEYS = ("pre_median", "pre_std", "act_median", "act_std", "activity_per_class", "activity",
             "dead", "activation_probability")
LAYER_KEYS = ("sparsity_pct", "dead_pct", "lifetime_sparsity", "dispersion", "saturation",
              "class_median_spread")
def analyse_state(extraction: dict, out: Path, state: str, part: str) -> dict:
    spec, flow = extraction["spec"], extraction["flow"][state][part]
    act = get_activation(spec["activation"], spec.get("shape"))
    pre, labels = extraction["pre"][state, part], extraction["labels"][part]
    slopes = extraction["slopes"].get(state)  # PReLU: (layers, seeds, nodes)

    def fn_of(layer: int) -> Callable[[np.ndarray], np.ndarray]:
        if slopes is None:
            return lambda z: act.fn(torch.from_numpy(z)).numpy()
        slope = torch.from_numpy(slopes[layer])[:, None, :]
        return lambda z: act.apply(torch.from_numpy(z), slope).numpy()

    layers = [layer_summary(np.asarray(pre[layer], dtype=np.float32), labels,
                            spec["num_classes"], fn_of(layer), act.on_threshold, *act.band,
                            switch_on_preactivation=slopes is not None)
              for layer in range(len(pre))]
    for key in NODE_KEYS:
        np.save(out / f"{state}_{part}_{key}.npy", np.stack([s[key] for s in layers]))
    result = {}
    for index, s in enumerate(layers):
        scalars = {key: seed_scalars(s[key]) for key in LAYER_KEYS}
        for key in FLOW_KEYS:
            scalars[key] = seed_scalars(flow[key][index])
        result[f"layer_{index + 1}"] = scalars
    network_dead = np.mean([s["dead_pct"] for s in layers], axis=0)  # equal widths
    result["network"] = {"dead_pct": seed_scalars(network_dead)}
    return result


def main() -> str:
    config = config_argument(__doc__)
    params = load_params()
    use_cpu_threads(get(params, "train.cpu_threads"))
    target = group(params, "analysis")["accuracy_target"]
    extraction = load_extraction(Path("data/extract_activations") / config)

    history = pd.read_csv(Path("data/train") / config / "history.csv")
    train_acc = history.pivot(index="seed", columns="epoch", values="train_acc")
    epochs = epochs_to_target(train_acc.loc[extraction["seeds"]].to_numpy(), target)
    reached = epochs[epochs >= 0]
    metrics = {
        "config": config,
        "seeds": extraction["seeds"],
        "epochs_to_target": {"target_train_acc": target,
                             "reached": int(len(reached)),
                             **(summary(reached) if len(reached) else {"mean": None, "se": None}),
                             "per_seed": epochs.tolist()},
        "states": {},
    }
    with atomic_path(Path("data/compute_metrics") / config) as out:
        out.mkdir()
        for state in extraction["states"]:
            metrics["states"][state] = {part: analyse_state(extraction, out, state, part)
                                        for part in extraction["sets"]}
    metrics["numerics"] = stage_fingerprint(params, "cpu")
    write_json(Path("metrics/compute_metrics") / f"{config}.json", metrics)
    trained = metrics["states"]["best"]["train"]
    sparsity = [v["sparsity_pct"]["mean"] for k, v in trained.items() if k.startswith("layer_")]
    print(f"{config}: trained sparsity per layer {sparsity} %, dead "
          f"{trained['network']['dead_pct']['mean']} %")
    return config


if __name__ == "__main__":
    run(main, "compute_metrics")
