"""Stage train@CONFIG: all seeds of one configuration, trained as one batched model.

Reads: data/split/<dataset>/split.npz, the learning rate from data/tune/<config>/lr.json
(the tune stage: the fixed rate of params.yaml or the searched one), and the train.* keys of
params.yaml that dvc.yaml lists.
Writes:

- ``metrics/train/<config>.json`` (git): accuracies at the kept parameters, mean +- s.e.
  and per seed: what ``dvc metrics diff`` compares;
- ``plots/train/<config>.csv`` (git): learning curves, mean and s.e. over seeds per epoch;
- ``data/train/<config>/`` (DVC cache): models.pt, the per-seed history.csv, and the DVCLive
  logs dvclive/seed_<k>/.

Resumes from checkpoints/train/<config>/ (train.checkpoint_every; removed when done).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from dvclive import Live

from activation_study.common.atomic import atomic_path, read_json, write_csv, write_json
from activation_study.common.configs import parse_config_id
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import get, load_params, train_settings
from activation_study.common.seed_stats import mean_se, summary
from activation_study.common.stage_entry import config_argument, run
from activation_study.network.model import resolve_device, use_cpu_threads
from activation_study.numerics import stage_fingerprint
from activation_study.training.checkpoints import stage_checkpoints
from activation_study.training.engine import (
    TrainResult,
    TrainSettings,
    network_and_split,
    train_batched,
)

SPLIT_ROOT = Path("data/split")  # the split stage's output, a folder per dataset
TUNE_DIR = Path("data/tune")
CURVE_COLUMNS = ("train_loss", "train_acc", "validation_loss", "validation_acc", "test_acc")
KEPT_COLUMNS = ("train_acc", "validation_acc", "test_acc", "train_loss", "validation_loss",
                "test_loss")


def kept_rows(history: pd.DataFrame, seeds: list[int], best_epoch: np.ndarray) -> pd.DataFrame:
    """The history row of each seed at its kept (best-validation) epoch, in seed order."""
    index = pd.MultiIndex.from_arrays([seeds, best_epoch.tolist()])
    return history.set_index(["seed", "epoch"]).loc[index].reset_index()


def config_metrics(result: TrainResult, config: dict) -> dict:
    """Metrics JSON of one configuration: what ``dvc metrics diff`` compares."""
    kept = kept_rows(result.history, result.seeds, result.best_epoch)
    gap = kept["train_acc"] - kept["test_acc"]
    per_seed = {
        str(seed): {
            **{col: round(float(kept[col][k]), 4) for col in KEPT_COLUMNS},
            "generalisation_gap": round(float(gap[k]), 4),
            "best_epoch": int(result.best_epoch[k]),
        }
        for k, seed in enumerate(result.seeds)
    }
    return {
        "config": config,
        "seeds": result.seeds,
        "test_acc": summary(kept["test_acc"]),
        "validation_acc": summary(kept["validation_acc"]),
        "train_acc": summary(kept["train_acc"]),
        "generalisation_gap": summary(gap),
        "best_epoch": summary(result.best_epoch),
        "per_seed": per_seed,
    }


def learning_curves(history: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: mean and s.e. over seeds of every curve column (``<col>`` and ``<col>_se``)."""
    frames = {}
    for col in CURVE_COLUMNS:
        wide = history.pivot(index="epoch", columns="seed", values=col)
        mean, se = mean_se(wide.to_numpy(), axis=1)
        frames[col] = np.round(mean, 4)
        frames[f"{col}_se"] = np.round(se, 4)
    return pd.DataFrame({"epoch": wide.index, **frames})


def write_run_folder(folder: Path, result: TrainResult) -> None:
    """Checkpoint and per-seed history into a (temporary) run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(result.to_checkpoint(), folder / "models.pt")
    result.history.to_csv(folder / "history.csv", index=False, float_format="%.6g")


def read_chosen_rate(config: str) -> float:
    """The learning rate tune@CONFIG chose (data/tune/<config>/lr.json): what train trains with."""
    path = TUNE_DIR / config / "lr.json"
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage tune for {config})")
    return float(read_json(path)["lr"])


def main() -> str:
    cid = config_argument(__doc__)
    network = parse_config_id(cid)
    params = load_params()
    lr = read_chosen_rate(cid)
    train = train_settings(params)
    every, threads = train.pop("checkpoint_every"), train.pop("cpu_threads")
    use_cpu_threads(threads)
    settings = TrainSettings(**train, lr=lr)
    spec, split = network_and_split(network, params, SPLIT_ROOT)
    checkpoints = stage_checkpoints(
        "train", cid, {"spec": spec.to_dict(), "settings": asdict(settings),
                           "device": str(resolve_device(settings.device)),
                           "cpu_threads": threads,
                           "cpu_numerics": get(params, "train.cpu_numerics")}, split, every)

    with atomic_path(Path("data/train") / cid) as folder:
        folder.mkdir()
        lives = [Live(str(folder / "dvclive" / f"seed_{seed}"), dvcyaml=False,
                      save_dvc_exp=False, report=None) for seed in settings.seeds]

        def log_epoch(epoch: int, epoch_metrics: dict) -> None:
            for k, live in enumerate(lives):  # DVCLive step == epoch (0 = initialisation)
                for key, values in epoch_metrics.items():
                    part, metric = key.rsplit("_", 1)
                    live.log_metric(f"{part}/{metric}", float(values[k]))
                live.next_step()

        result = train_batched(spec, split, settings, on_epoch=log_epoch,
                               checkpoint=checkpoints.checkpoint("train"))
        for live in lives:
            live.end()
        write_run_folder(folder, result)

    config = {"id": cid, **spec.to_dict(), "dataset": network["dataset"], "lr": settings.lr,
              **result.training()}
    metrics = {**config_metrics(result, config),
               "numerics": stage_fingerprint(params, result.device)}
    write_json(Path("metrics/train") / f"{cid}.json", metrics)
    write_csv(Path("plots/train") / f"{cid}.csv", learning_curves(result.history))
    checkpoints.clear()
    test = metrics["test_acc"]
    print(f"{cid}: test accuracy {test['mean']:.2f} +- {test['se']} % "
          f"({result.seconds:.1f} s on {result.device})")
    return cid


if __name__ == "__main__":
    run(main, "train")
