"""What a second process on the next core costs: each workload alone, then two copies side
by side (one thread each), in the same run.

The parallel runner gains only what the machine gives two processes at once, and that
depends on the work: a compute-bound matrix product scales with the cores, while work that
streams memory shares the caches and the memory bus. Workloads, each repeated for
``--seconds``:

- ``matmul``: ``torch.mm`` of two 1024 x 1024 float32 matrices;
- ``train``: one epoch of the default study's training (`train_batched`: 3 seeds of a
  4 x 200 ReLU MLP, batch 64, 3 500 synthetic MNIST-shaped images);
- ``classify``: the layer classifiers of one layer (`layer_accuracies`, binned KDE,
  5 000 samples of 200 nodes, 10 classes), as `classify_layers` runs them.

    PYTHONPATH=. python benchmarks/bench_cores.py [--seconds 20] [--json out.json]

*pair throughput* = units per second of both copies together / units per second alone:
2.0 is two full cores, 1.0 is no gain from the second process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

WORKLOADS = ("matmul", "train", "classify")


def unit(name: str) -> Callable[[], None]:
    """One unit of work of ``name``, set up (untimed) and returned as a callable."""
    if name == "matmul":
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        return lambda: a @ b
    if name == "train":
        from activation_study.network.model import ModelSpec
        from activation_study.training.engine import TrainSettings, train_batched

        rng = np.random.default_rng(0)
        split = {part: (rng.integers(0, 256, (n, 784), dtype=np.uint8),
                        rng.integers(0, 10, n).astype(np.int64))
                 for part, n in (("train", 3500), ("validation", 500), ("test", 1000))}
        spec = ModelSpec(input_dim=784, depth=4, width=200, batchnorm=False,
                         activation="relu")
        settings = TrainSettings([0, 1, 2], 1, 64, 1e-3, 0.99, [], "cpu")
        return lambda: train_batched(spec, split, settings, progress=False)
    from activation_study.analysis.layer_classifiers import layer_accuracies
    from benchmarks.bench_kde import SYSTEMS, synthetic_layer

    (z, y), (zt, yt) = synthetic_layer(5000, 200, 10)
    return lambda: layer_accuracies(z, y, {"train": (z, y), "test": (zt, yt)}, 10,
                                    lambda v: v > 0, SYSTEMS, device=torch.device("cpu"))


def worker(name: str, seconds: float, barrier, results) -> None:
    torch.set_num_threads(1)
    work = unit(name)
    work()  # warm-up
    barrier.wait()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        work()
        count += 1
    results.put(count / (time.perf_counter() - start))


def throughput(name: str, copies: int, seconds: float) -> float:
    """Units per second of ``copies`` processes together, started at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(copies), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(name, seconds, barrier, results))
             for _ in range(copies)]
    for proc in procs:
        proc.start()
    rates = [results.get(timeout=seconds + 600) for _ in procs]  # a child that died: raises
    for proc in procs:
        proc.join()
    return sum(rates)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = {"cpus": os.cpu_count(), "torch": torch.__version__, "workloads": {}}
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.seconds:.0f} s per run\n")
    print("| workload | alone (units/s) | pair (units/s, both) | pair throughput |")
    print("| --- | --: | --: | --: |")
    for name in args.workloads:
        alone, pair = throughput(name, 1, args.seconds), throughput(name, 2, args.seconds)
        out["workloads"][name] = {"alone": alone, "pair": pair, "ratio": pair / alone}
        print(f"| {name} | {alone:.3g} | {pair:.3g} | {pair / alone:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
