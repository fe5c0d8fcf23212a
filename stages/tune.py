"""Stage tune@CONFIG: the learning rate that train@CONFIG uses.

With ``train.lr.<activation>: auto`` it runs the iterative grid search of 001 section 3.3.1
(the ``tune`` keys of params.yaml; below); with a number it passes that rate on unchanged,
trains nothing, and its outputs do not depend on the ``tune`` keys, so editing them retrains
nothing that has a fixed rate.

Writes: data/tune/<config>/lr.json (the rate train reads) and search.csv (every candidate
rate and seed: round, lr, seed, best_validation_acc, best_epoch), metrics/tune/<config>.json.
A search resumes from checkpoints/tune/<config>/: finished rounds' scores and the current
round's training state (train.checkpoint_every; removed when done).

The search: an iterative grid search over a few seeds.

Round 1 trains every rate of the starting grid (0.01, 0.001, 0.0001 in the dissertation).
Each later round brackets the best rate so far: with ``d`` the smallest decade gap of the
grid (1 for the dissertation's), round ``r`` tries ``best * 10**(-d / 2**(r-1))`` and
``best * 10**(+d / 2**(r-1))``, a bisection in log space. A rate is scored by the mean over
seeds of its best validation accuracy within the epoch budget (early stopping, as in
training); ties go to the smaller rate. Rates are rounded to 3 significant digits.

All candidates and seeds of a round train as one batched model, a learning rate per model
(``TrainSettings.lr_scale``, exact for Adam): candidate ``c`` with seed ``s`` starts from
the same initialisation and sees the same mini-batches as it would alone.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from activation_study.common import (
    atomic_path,
    get,
    group,
    learning_rate,
    load_params,
    network_arguments,
    run,
    seed_scalars,
    summary,
    train_settings,
    write_json,
)

if TYPE_CHECKING:
    from activation_study.network.model import ModelSpec
    from activation_study.training.checkpoints import Checkpoint, CheckpointFolder
    from activation_study.training.engine import Split

TUNE_DIR = Path("data/tune")  # train reads lr.json here (stages/train.py)


# --- The search ----------------------------------------------------------------------------

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


# --- The stage ---------------------------------------------------------------------------

def write_outputs(config: str, lr: float, table: pd.DataFrame, metrics: dict) -> None:
    with atomic_path(TUNE_DIR / config) as folder:
        folder.mkdir()
        write_json(folder / "lr.json", {"lr": lr, "mode": metrics["mode"]})
        table.to_csv(folder / "search.csv", index=False, float_format="%.6g")
    write_json(Path("metrics/tune") / f"{config}.json", metrics)


def main() -> None:
    args = network_arguments(__doc__)
    params = load_params()
    fixed = learning_rate(params, args.activation)
    if fixed is not None:
        write_outputs(args.id, fixed, pd.DataFrame(columns=list(COLUMNS)), {
            "config": args.id, "mode": "fixed", "lr": fixed, "rounds": None, "epochs": None,
            "candidates": 0, "validation_acc": None, "search": []})
        print(f"{args.id}: fixed learning rate {fixed:g} (train.lr.{args.activation})")
        return

    # torch loads here: with a fixed rate this stage stays torch-free (about 1 s less)
    from activation_study.network.model import resolve_device, use_cpu_threads
    from activation_study.numerics import stage_fingerprint
    from activation_study.training.checkpoints import stage_checkpoints
    from activation_study.training.engine import network_and_split

    settings = SearchSettings(**group(params, "tune"))
    train = train_settings(params)
    use_cpu_threads(train["cpu_threads"])
    spec, split = network_and_split(args, params)
    checkpoints = stage_checkpoints(
        "tune", args.id, {"spec": spec.to_dict(), "search": asdict(settings),
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
    write_outputs(args.id, result.lr, result.table, {
        "config": args.id, "mode": "auto", "lr": result.lr, "rounds": settings.rounds,
        "epochs": settings.epochs, "candidates": candidates, "validation_acc": chosen,
        "search": result.by_rate(),
        "numerics": stage_fingerprint(params, resolve_device(train["device"]))})
    checkpoints.clear()
    print(f"{args.id}: searched {candidates} rates, chose {result.lr:g} (validation accuracy "
          f"{chosen['mean']:.2f} % after at most {settings.epochs} epochs)")


if __name__ == "__main__":
    run(main)
