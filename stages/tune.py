"""Stage tune@CONFIG: the learning rate that train@CONFIG uses.

With ``train.lr.<activation>: auto`` it runs the iterative grid search of 001 section 3.3.1
(the ``tune`` keys of params.yaml; below); with a number it passes that rate on unchanged,
trains nothing, and its outputs do not depend on the ``tune`` keys, so editing them retrains
nothing that has a fixed rate.

Writes: data/tune/<config>/lr.json (the rate train reads) and search.csv (every candidate
rate and seed: round, lr, seed, best_validation_acc, best_epoch), metrics/tune/<config>.json.
A search resumes from checkpoints/tune/<config>/: finished rounds' scores and the current
round's training state (train.checkpoint_every; removed when done).

The search itself is ``activation_study.training.lr_search``.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from activation_study.common.atomic import atomic_path, write_json
from activation_study.common.configs import parse_config_id
from activation_study.common.param_reader import (
    get,
    group,
    learning_rate,
    load_params,
    train_settings,
)
from activation_study.common.seed_stats import seed_scalars
from activation_study.common.stage_entry import config_argument, run
from activation_study.training.lr_search import COLUMNS, SearchSettings, batched_scorer, search

SPLIT_ROOT = Path("data/split")  # the split stage's output, a folder per dataset
TUNE_DIR = Path("data/tune")  # train reads lr.json here (stages/train.py)


def write_outputs(config: str, lr: float, table: pd.DataFrame, metrics: dict) -> None:
    with atomic_path(TUNE_DIR / config) as folder:
        folder.mkdir()
        write_json(folder / "lr.json", {"lr": lr, "mode": metrics["mode"]})
        table.to_csv(folder / "search.csv", index=False, float_format="%.6g")
    write_json(Path("metrics/tune") / f"{config}.json", metrics)


def main() -> str:
    cid = config_argument(__doc__)
    network = parse_config_id(cid)
    params = load_params()
    fixed = learning_rate(params, network["activation"])
    if fixed is not None:
        write_outputs(cid, fixed, pd.DataFrame(columns=list(COLUMNS)), {
            "config": cid, "mode": "fixed", "lr": fixed, "rounds": None, "epochs": None,
            "candidates": 0, "validation_acc": None, "search": []})
        print(f"{cid}: fixed learning rate {fixed:g} (train.lr.{network['activation']})")
        return cid

    # torch loads here: with a fixed rate this stage stays torch-free (about 1 s less)
    from activation_study.network.model import resolve_device, use_cpu_threads
    from activation_study.numerics import stage_fingerprint
    from activation_study.training.checkpoints import stage_checkpoints
    from activation_study.training.engine import network_and_split

    settings = SearchSettings(**group(params, "tune"))
    train = train_settings(params)
    use_cpu_threads(train["cpu_threads"])
    spec, split = network_and_split(network, params, SPLIT_ROOT)
    checkpoints = stage_checkpoints(
        "tune", cid, {"spec": spec.to_dict(), "search": asdict(settings),
                          "batch_size": train["batch_size"], "lr_decay": train["lr_decay"],
                          "device": str(resolve_device(train["device"])),
                          "cpu_threads": train["cpu_threads"], "compile": train["compile"],
                          "matmul_precision": train["matmul_precision"],
                          "cpu_numerics": get(params, "train.cpu_numerics")},
        split, train["checkpoint_every"])
    result = search(batched_scorer(spec, split, settings, train["batch_size"],
                                   train["lr_decay"], train["device"], checkpoints=checkpoints,
                                   compile=train["compile"],
                                   matmul_precision=train["matmul_precision"]),
                    settings)
    chosen = seed_scalars(result.table.loc[result.table["lr"] == result.lr,
                                           "best_validation_acc"])
    candidates = int(result.table["lr"].nunique())
    write_outputs(cid, result.lr, result.table, {
        "config": cid, "mode": "auto", "lr": result.lr, "rounds": settings.rounds,
        "epochs": settings.epochs, "candidates": candidates, "validation_acc": chosen,
        "search": result.by_rate(),
        "numerics": stage_fingerprint(params, resolve_device(train["device"]))})
    checkpoints.clear()
    print(f"{cid}: searched {candidates} rates, chose {result.lr:g} (validation accuracy "
          f"{chosen['mean']:.2f} % after at most {settings.epochs} epochs)")
    return cid


if __name__ == "__main__":
    run(main, "tune")
