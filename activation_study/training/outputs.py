"""What the train stage writes, derived from a ``TrainResult``.

- ``metrics/train/<config>.json`` (git): accuracies at the kept parameters, mean +- s.e.
  and per seed
- ``plots/train/<config>.csv`` (git): learning curves, mean and s.e. over seeds per epoch
- ``data/train/<config>/`` (DVC cache): checkpoint, per-seed history, DVCLive logs
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from activation_study.stats import mean_se, summary
from activation_study.training.engine import TrainResult

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
