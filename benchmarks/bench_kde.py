"""Layer classifiers (ch. 6): binned KDE against the exact direct sum, on the same data.

A synthetic layer (``--samples`` training and as many test samples, ``--nodes`` nodes,
``--classes`` classes; class-dependent Gaussian pre-activations with spread like a trained
ReLU layer's) is classified by the discrete, continuous and combined systems twice: with
``estimator="binned"`` and with ``estimator="exact"``. Reports the wall time of each, their
ratio, the largest per-layer accuracy difference, and the largest relative density error on
the evaluated points (densities at or above the floor, on a sample of test points).

    PYTHONPATH=. python benchmarks/bench_kde.py [--samples 10000] [--nodes 200] [--json out]
    PYTHONPATH=. python benchmarks/bench_kde.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from activation_study.analysis.layer_classifiers import BinnedKDE, ExactKDE, layer_accuracies
from activation_study.common.atomic import write_json

SYSTEMS = ("discrete", "continuous", "combined")


def synthetic_layer(samples: int, nodes: int, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 0.12, (classes, nodes))
    scales = rng.uniform(0.5, 2.0, nodes)

    def draw(n: int):
        y = rng.integers(0, classes, n)
        z = (centers[y] + rng.normal(0, 1, (n, nodes))) * scales
        return z[None].astype(np.float32), y

    return draw(samples), draw(samples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--grid-per-bandwidth", type=int, default=24)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    (z, y), (zt, yt) = synthetic_layer(args.samples, args.nodes, args.classes)
    evaluations = {"train": (z, y), "test": (zt, yt)}
    accuracy, seconds = {}, {}
    for estimator in ("binned", "exact"):
        start = time.perf_counter()
        accuracy[estimator] = layer_accuracies(
            z, y, evaluations, args.classes, lambda v: v > 0, SYSTEMS, estimator=estimator,
            grid_per_bandwidth=args.grid_per_bandwidth, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[estimator] = time.perf_counter() - start
        print(f"{estimator}: {seconds[estimator]:.2f} s", flush=True)
    worst = max(abs(float(accuracy["binned"][s][p][0]) - float(accuracy["exact"][s][p][0]))
                for s in SYSTEMS for p in evaluations)

    nodes = slice(0, min(32, args.nodes))
    train = torch.from_numpy(z[:, :, nodes]).to(device)
    labels = torch.from_numpy(y).to(device)
    probe = torch.from_numpy(zt[:, :500, nodes]).to(device)
    lo = torch.minimum(train.amin(1), probe.amin(1)) - 0.2
    hi = torch.maximum(train.amax(1), probe.amax(1)) + 0.2
    binned = BinnedKDE(train, labels, args.classes, 0.2, torch.stack([lo, hi]),
                       args.grid_per_bandwidth)(probe)
    exact = ExactKDE(train, labels, args.classes, 0.2)(probe)
    mask = exact >= 1e-10
    relative = float(((binned - exact).abs() / exact)[mask].max())

    result = {
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda" else
                   f"cpu ({platform.processor() or platform.machine()}, "
                   f"{torch.get_num_threads()} threads)"),
        "grid_per_bandwidth": args.grid_per_bandwidth,
        "samples": args.samples, "nodes": args.nodes, "classes": args.classes,
        "seconds": seconds, "speedup": seconds["exact"] / seconds["binned"],
        "max_accuracy_difference_pp": worst, "max_relative_density_error": relative,
        "accuracy": {e: {s: {p: float(v[0]) for p, v in parts.items()}
                         for s, parts in acc.items()} for e, acc in accuracy.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
