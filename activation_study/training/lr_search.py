"""The learning-rate search of the tune stage: an iterative grid search over a few seeds.

Round 1 trains every rate of the starting grid (0.01, 0.001, 0.0001 in the dissertation).
Each later round brackets the best rate so far: with ``d`` the smallest decade gap of the
grid (1 for the dissertation's), round ``r`` tries ``best * 10**(-d / 2**(r-1))`` and
``best * 10**(+d / 2**(r-1))``, a bisection in log space. A rate is scored by the mean over
seeds of its best validation accuracy within the epoch budget (early stopping, as in
training); ties go to the smaller rate. Rates are rounded to 3 significant digits.

All candidates and seeds of a round train as one batched model, a learning rate per model
(``TrainSettings.lr_scale``, exact for Adam): candidate ``c`` with seed ``s`` starts from
the same initialisation and sees the same mini-batches as it would alone.

The search itself is torch-free (``search`` takes any scorer); ``batched_scorer`` trains the
candidates with the engine, which loads torch when a round first trains.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from activation_study.common.seed_stats import summary

if TYPE_CHECKING:
    from activation_study.network.model import ModelSpec
    from activation_study.training.checkpoints import Checkpoint, CheckpointFolder
    from activation_study.training.engine import Split

COLUMNS = ("round", "lr", "seed", "best_validation_acc", "best_epoch")
# score(rates) -> one row per (rate, seed): lr, seed, best_validation_acc, best_epoch
Scorer = Callable[[list[float]], pd.DataFrame]


@dataclass(frozen=True)
class SearchSettings:
    grid: list[float]
    rounds: int
    epochs: int
    seeds: list[int]


@dataclass
class SearchResult:
    lr: float
    table: pd.DataFrame  # COLUMNS, one row per candidate rate and seed

    def by_rate(self) -> list[dict]:
        """Per rate, in the order tried: round, rate and best validation accuracy over seeds."""
        rows = []
        for (round_, lr), scores in self.table.groupby(["round", "lr"], sort=False):
            rows.append({"round": int(round_), "lr": float(lr),
                         "validation_acc": summary(scores["best_validation_acc"])})
        return rows


def round_rate(rate: float) -> float:
    return float(f"{rate:.3g}")


def decade_gap(grid: list[float]) -> float:
    """Smallest gap between the grid's rates in decades (1 for 0.01, 0.001, 0.0001)."""
    logs = np.sort(np.log10(grid))
    return float(np.diff(logs).min()) if len(logs) > 1 else 1.0


def bracket(best: float, gap: float, round_: int) -> list[float]:
    """The two rates round ``round_`` (>= 2) tries around ``best``."""
    step = gap / 2 ** (round_ - 1)
    return [round_rate(best * 10**-step), round_rate(best * 10**step)]


def best_rate(table: pd.DataFrame) -> float:
    """The rate with the highest mean best-validation accuracy; ties to the smaller rate."""
    means = table.groupby("lr")["best_validation_acc"].mean().sort_index()
    return float(means.index[int(np.argmax(means.to_numpy()))])


def search(score: Scorer, settings: SearchSettings) -> SearchResult:
    """Run the rounds; ``score`` trains a list of rates over every seed."""
    gap = decade_gap(settings.grid)
    frames: list[pd.DataFrame] = []
    tried: set[float] = set()
    candidates = sorted({round_rate(rate) for rate in settings.grid}, reverse=True)
    for round_ in range(1, settings.rounds + 1):
        if round_ > 1:
            best = best_rate(pd.concat(frames))
            candidates = [rate for rate in bracket(best, gap, round_) if rate not in tried]
        if not candidates:
            break
        scored = score(candidates)
        frames.append(scored.assign(round=round_)[list(COLUMNS)])
        tried.update(candidates)
    table = pd.concat(frames, ignore_index=True)
    return SearchResult(lr=best_rate(table), table=table)


def batched_scorer(spec: ModelSpec, split: Split, settings: SearchSettings, batch_size: int,
                   lr_decay: float, device: str, progress: bool = True,
                   checkpoints: CheckpointFolder | None = None, compile: bool | str = False,
                   matmul_precision: str = "highest") -> Scorer:
    """A scorer that trains all rates x seeds of a round as one stack of models
    (``compile`` and ``matmul_precision``: ``TrainSettings``'s, train.* of params.yaml).

    With ``checkpoints``, a round's training resumes from its checkpoint and a finished
    round's scores are kept, so an interrupted search redoes neither."""

    def score(rates: list[float]) -> pd.DataFrame:
        if checkpoints is None:
            return train_round(rates, None)
        key = "_".join(f"{rate:.3g}" for rate in rates)
        scores = checkpoints.checkpoint(f"scores-{key}")
        done = scores.load()
        if done is not None:
            print(f"resuming: round of rates {key.replace('_', ', ')} already scored "
                  f"({scores.path})", file=sys.stderr)
            return pd.DataFrame(done)
        training = checkpoints.checkpoint(f"round-{key}")
        table = train_round(rates, training)
        scores.save({column: table[column].tolist() for column in table.columns})
        training.remove()
        return table

    def train_round(rates: list[float], checkpoint: Checkpoint | None) -> pd.DataFrame:
        # torch loads here: the search itself (and the tune stage with a fixed rate) is torch-free
        from activation_study.training.engine import TrainSettings, train_batched

        models = [(rate, seed) for rate in rates for seed in settings.seeds]
        top = max(rates)
        train = TrainSettings(
            seeds=[seed for _, seed in models], epochs=settings.epochs,
            batch_size=batch_size, lr=top, lr_decay=lr_decay, device=device,
            lr_scale=[rate / top for rate, _ in models], compile=compile,
            matmul_precision=matmul_precision)
        label = (f"tune {spec.activation} {spec.depth}x{spec.width} bn={int(spec.batchnorm)}"
                 f" {len(rates)} rates x{len(settings.seeds)} seeds")
        result = train_batched(spec, split, train, progress=progress, label=label,
                               checkpoint=checkpoint)
        # history rows: epoch by epoch, models in stack order (epoch 0 = initialisation)
        validation = result.history["validation_acc"].to_numpy().reshape(
            settings.epochs + 1, len(models))[1:]
        return pd.DataFrame({
            "lr": [rate for rate, _ in models],
            "seed": [seed for _, seed in models],
            "best_validation_acc": validation.max(axis=0),
            "best_epoch": result.best_epoch,
        })

    return score


def models_trained(settings: SearchSettings) -> int:
    """Candidate rates the search trains at most (each over every seed)."""
    return len(set(settings.grid)) + 2 * (settings.rounds - 1)
