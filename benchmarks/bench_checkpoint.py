"""Cost of resume checkpoints: training with ``train.checkpoint_every = k`` against training
without checkpoints, in the same run.

Both sides are ``activation_study.training.engine.train_batched`` on the same configuration and
split (synthetic uint8 images of MNIST's shape, or CIFAR-10's with ``--input-dim 3072``):
the baseline has no checkpoint; each other side saves the whole training state (parameters,
Adam moments, initial, best and snapshot parameters, shuffle generators, history) every k
epochs, atomically, to a temporary folder, as the train stage does. The reported time is
the median of ``--repeats`` runs of each side, interleaved and each side first in turn,
after one untimed 1-epoch warm-up; overhead = time /
baseline time - 1 (noisy on a small shared CPU: several percent between repeats). Steadier,
and printed beside it: the seconds the run spent writing checkpoint files (the state every k
epochs, the initial and snapshot parameters once each) / baseline time. Also printed: the
size of the state file and the seconds per save, from which the cost at another epoch time
(another device) follows.

    PYTHONPATH=. python benchmarks/bench_checkpoint.py                  # default grid's 6x200
    PYTHONPATH=. python benchmarks/bench_checkpoint.py --every 1 5 10 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from activation_study.network.model import ModelSpec
from activation_study.training.checkpoints import Checkpoint
from activation_study.training.engine import TrainSettings, train_batched


def synthetic_split(n_train: int, dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, size=(n, dim), dtype=np.uint8),
                rng.integers(0, 10, size=n).astype(np.int64))

    return {"train": part(n_train), "validation": part(n_train // 7),
            "test": part(2 * n_train // 7)}


class TimedCheckpoint(Checkpoint):
    """A checkpoint that records how long each save takes."""

    def save(self, state: dict) -> None:
        start = time.perf_counter()
        super().save(state)
        SAVES.append(time.perf_counter() - start)


SAVES: list[float] = []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--width", type=int, default=200)
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--input-dim", type=int, default=784)
    p.add_argument("--samples", type=int, default=3500, help="training samples (mnist5k: 3500)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--snapshots", type=int, nargs="*", default=[1, 5])
    p.add_argument("--every", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="write all numbers to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    spec = ModelSpec(input_dim=args.input_dim, depth=args.depth, width=args.width,
                     batchnorm=args.batchnorm, activation="relu")
    settings = TrainSettings(seeds=list(range(args.seeds)), epochs=args.epochs, batch_size=64,
                             lr=1e-3, lr_decay=0.99, snapshot_epochs=args.snapshots,
                             device=args.device)
    split = synthetic_split(args.samples, args.input_dim)
    sides = [None, *args.every]
    times: dict[str, list[float]] = {str(k): [] for k in sides}
    saving: dict[str, list[float]] = {str(k): [] for k in sides}  # seconds in saves per run
    sizes: dict[str, int] = {}
    per_save: list[float] = []
    warm_up = TrainSettings(**{**vars(settings), "epochs": 1})
    train_batched(spec, split, warm_up, progress=False)  # untimed
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            turn = repeat % len(sides)  # each side goes first in turn
            for every in sides[turn:] + sides[:turn]:
                checkpoint = None if every is None else TimedCheckpoint(
                    Path(tmp) / f"every{every}.pt", "bench", every)
                SAVES.clear()
                start = time.perf_counter()
                train_batched(spec, split, settings, progress=False, checkpoint=checkpoint)
                times[str(every)].append(time.perf_counter() - start)
                saving[str(every)].append(sum(SAVES))
                if checkpoint is not None:
                    sizes[str(every)] = checkpoint.path.stat().st_size
                    per_save.append(SAVES[-1])  # the state file (parts are written once)
                    checkpoint.remove()
    base = statistics.median(times["None"])
    rows = []
    for every in sides:
        median = statistics.median(times[str(every)])
        saves = 0 if every is None else len(range(every, args.epochs, every))
        rows.append({"checkpoint_every": every, "seconds": round(median, 3),
                     "overhead_pct": round(100 * (median / base - 1), 2),
                     "saves": saves,
                     "save_pct": round(100 * statistics.median(saving[str(every)]) / base, 2)})
    result = {
        "config": f"{args.depth}x{args.width} bn={args.batchnorm} dim={args.input_dim} "
                  f"{args.seeds} seeds, {args.samples} samples, {args.epochs} epochs",
        "device": args.device if args.device != "auto" else
        ("cuda" if torch.cuda.is_available() else "cpu"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                   f"threads, torch {torch.__version__}",
        "checkpoint_bytes": max(sizes.values()) if sizes else None,
        "seconds_per_save": round(statistics.median(per_save), 4) if per_save else None,
        "seconds_per_epoch": round(base / args.epochs, 4),
        "rows": rows,
    }
    print(f"{result['config']} on {result['device']} ({result['machine']})")
    megabytes = (result["checkpoint_bytes"] or 0) / 2**20
    print(f"checkpoint state file: {megabytes:.1f} MB, {result['seconds_per_save']} s "
          f"per save; {result['seconds_per_epoch']} s per epoch without checkpoints")
    print(f"{'checkpoint_every':>16} {'median s':>9} {'overhead':>9} {'saves':>6} "
          f"{'writing/baseline':>17}")
    for row in rows:
        label = "none (baseline)" if row["checkpoint_every"] is None else row["checkpoint_every"]
        print(f"{label!s:>16} {row['seconds']:>9.3f} {row['overhead_pct']:>8.2f}% "
              f"{row['saves']:>6} {row['save_pct']:>16.2f}%")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
