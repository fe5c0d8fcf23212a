"""One prepared check of the engine on a GPU: speed, agreement, and the paper grid's wall time.

    PYTHONPATH=. python benchmarks/gpu_check.py OUT [--plan paper_plan.json] [--fmnist DIR]
    PYTHONPATH=. python benchmarks/gpu_check.py OUT --smoke       # CPU, seconds (make test)

Needs torch, numpy, scipy, pandas and scikit-learn only: no DVC, no pydantic, no mlxtend, no
internet. Writes ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` (a markdown table), in a few
minutes on one GPU (the sizes below are chosen to stay under 8). Sections:

1. **throughput**: batched optimiser steps per second (one step trains every stacked model
   on its own mini-batch of 64) and samples per second, for the naive per-seed DataLoader
   loop (``bench_training.py``'s baseline), the eager engine and the graphed engine (CUDA
   graphs; on CPU its eager twin, the device-counter steps), on synthetic uint8 data of the
   real sizes of MNIST (55 000 x 784) and CIFAR-10 (45 000 x 3 072): 4x200 ReLU x 3 seeds,
   8x800 ReLU with batch norm x 3 seeds, and the learning-rate search's 21-model stack.
2. **agreement**: scikit-learn's digits, 2 epochs: CUDA against CPU, graphed against eager,
   two runs of each bitwise; a models.pt trained here read back on the CPU; extraction and
   the binned KDE of the layer classifiers on the device, twice, and against the CPU.
3. **concurrency**: 1, 2 and 4 processes on the one device, each training the 4x200 MNIST
   workload; their summed throughput.
4. **fmnist**: Fashion-MNIST 6x100 ReLU x 3 seeds, 20 epochs, the full engine (evaluation
   included), validation accuracy per epoch. The published files (Debian's
   ``dataset-fashion-mnist`` puts them in /usr/share/datasets/fashion-mnist) from ``--fmnist``.
5. **projection**: the wall time of a plan's training (``python -m activation_study.pipeline.plan
   presets/paper.yaml --json FILE``): per configuration, its train and tune stacks' steps
   and evaluation passes at step and evaluation times fitted to section 1's measurements,
   for 1 process and for the best concurrency of section 3, beside a 30-minute goal.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_training, beside this file

from bench_training import BATCH_SIZE, build_sequential, device_name  # noqa: E402

from activation_study.analysis.layer_classifiers import BinnedKDE  # noqa: E402
from activation_study.data.readers import read_idx_pair  # noqa: E402
from activation_study.network.model import (  # noqa: E402
    ModelSpec,
    build_model,
    resolve_device,  # noqa: E402
)
from activation_study.network.stored import load_models, read_models  # noqa: E402
from activation_study.training.engine import (  # noqa: E402
    PARTS,
    TrainSettings,
    _optimiser,
    evaluate,
    to_device,
    train_batched,
)
from activation_study.training.train_step import CounterEpoch, EagerEpoch, GraphedEpoch  # noqa: E402

GOAL_SECONDS = 30 * 60
SEARCH_RATES = [1e-2, 3.16e-3, 1e-3, 3.16e-4, 1e-4, 3.16e-5, 1e-5]  # 7 rates x 3 seeds = 21
FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
Split = dict[str, tuple[np.ndarray, np.ndarray]]


def sizes(smoke: bool) -> dict[str, Any]:
    if smoke:
        return {"datasets": {"mnist": (640, 784), "cifar10": (512, 3072)},
                "networks": [("4x200", 2, 16, False, 3), ("8x800 bn", 3, 24, True, 3)],
                "search": (2, 16), "naive_steps": 4, "epochs_timed": 1, "processes": [1, 2],
                "concurrent_epochs": 1, "fmnist_epochs": 2, "fmnist_samples": 600}
    return {"datasets": {"mnist": (55000, 784), "cifar10": (45000, 3072)},
            "networks": [("4x200", 4, 200, False, 3), ("8x800 bn", 8, 800, True, 3)],
            "search": (4, 200), "naive_steps": 150, "epochs_timed": 1, "processes": [1, 2, 4],
            "concurrent_epochs": 3, "fmnist_epochs": 20, "fmnist_samples": None}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, dim), dtype=np.uint8)
    y = rng.integers(0, 10, size=n)
    return torch.as_tensor(x).float().div_(255.0), torch.as_tensor(y).long()


# ------------------------------------------------------------------------- 1. throughput

def naive_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, loader,
               device: torch.device) -> None:
    xb, yb = next(loader)
    loss = torch.nn.functional.cross_entropy(model(xb.to(device)), yb.to(device))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def naive_rate(spec: ModelSpec, seeds: int, x: torch.Tensor, y: torch.Tensor, steps: int,
               device: torch.device) -> float:
    """Optimiser steps per second of one seed's plain loop (DataLoader on CPU tensors,
    nn.Sequential, torch's Adam), the seeds one after another."""
    from torch.utils.data import DataLoader, TensorDataset

    total = 0.0
    for seed in range(seeds):
        loader = iter(DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True,
                                 generator=torch.Generator().manual_seed(seed)))
        model = build_sequential(spec, seed).to(device).train()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):  # warm-up
            naive_step(model, optimiser, loader, device)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            naive_step(model, optimiser, loader, device)
        sync(device)
        total += time.perf_counter() - start
    return seeds * steps / total


def engine_rate(kind: str, spec: ModelSpec, scales: list[float], x: torch.Tensor,
                y: torch.Tensor, epochs: int) -> dict[str, float]:
    """Batched steps per second of the eager or graphed epoch runner (one untimed epoch
    first), and the seconds the capture took."""
    device = x.device
    model = build_model(spec, list(range(len(scales))), device).train()
    graphed = kind == "graphed"
    optimiser = _optimiser(model, 1e-3, scales, graphed)  # the engine's choice, as it trains
    runner_type = EagerEpoch if not graphed else (
        GraphedEpoch if device.type == "cuda" else CounterEpoch)
    start = time.perf_counter()
    runner = runner_type(model, optimiser, x, y, BATCH_SIZE)
    sync(device)
    capture = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)

    def perms() -> torch.Tensor:
        return torch.stack([torch.randperm(len(x), generator=generator) for _ in scales])

    runner.run(perms())
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        runner.run(perms())
    sync(device)
    seconds = time.perf_counter() - start
    steps = epochs * -(-len(x) // BATCH_SIZE)
    return {"steps_per_s": steps / seconds, "capture_s": capture}


def eval_seconds(spec: ModelSpec, models: int, x: torch.Tensor, y: torch.Tensor) -> float:
    """One evaluation pass of the stack over ``x`` (the engine's per-epoch work, per set)."""
    model = build_model(spec, list(range(models)), x.device)
    evaluate(model, x, y)
    sync(x.device)
    start = time.perf_counter()
    evaluate(model, x, y).cpu()
    return time.perf_counter() - start


def throughput(size: dict, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    depth, width = size["search"]
    workloads = [(f"{name} x{seeds}", depth_, width_, bn, [1.0] * seeds)
                 for name, depth_, width_, bn, seeds in size["networks"]]
    workloads.append((f"search {size['search'][0]}x{size['search'][1]} x21", depth, width,
                      False, [rate / SEARCH_RATES[0] for rate in SEARCH_RATES for _ in range(3)]))
    for dataset, (n, dim) in size["datasets"].items():
        x, y = synthetic(n, dim)
        on_device = x.to(device), y.to(device)
        for label, depth_, width_, bn, scales in workloads:
            spec = ModelSpec(dim, depth_, width_, bn, "relu")
            models = len(scales)
            row = {"dataset": dataset, "samples": n, "network": label, "models": models,
                   "weights": sum(a * b for a, b in spec.layer_dims())}
            if len(set(scales)) == 1:  # the naive loop has no stacked search
                row["naive"] = naive_rate(spec, models, x, y, size["naive_steps"], device) / \
                    models  # batched-step equivalents: every model once
            for kind in ("eager", "graphed"):
                torch.cuda.reset_peak_memory_stats(device) if device.type == "cuda" else None
                measured = engine_rate(kind, spec, scales, *on_device, size["epochs_timed"])
                row[kind] = measured["steps_per_s"]
                if kind == "graphed":
                    row["capture_s"] = measured["capture_s"]
                    row["peak_mib"] = (torch.cuda.max_memory_allocated(device) / 2**20
                                       if device.type == "cuda" else None)
            row["eval_s"] = eval_seconds(spec, models, *on_device)
            row["samples_per_s"] = {kind: row[kind] * models * BATCH_SIZE
                                    for kind in ("naive", "eager", "graphed") if kind in row}
            rows.append(row)
            print(f"  {dataset:8s} {label:22s} " + "  ".join(
                f"{kind} {row[kind]:8.1f} steps/s" for kind in ("naive", "eager", "graphed")
                if kind in row), flush=True)
    return rows


# -------------------------------------------------------------------------- 2. agreement

def digits_split(limit: int | None = None) -> Split:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data * 255 / 16).astype(np.uint8)[:limit]
    y = digits.target.astype(np.int64)[:limit]
    n = len(y)
    cut = [int(n * 0.7), int(n * 0.8)]
    return {"train": (x[:cut[0]], y[:cut[0]]), "validation": (x[cut[0]:cut[1]], y[cut[0]:cut[1]]),
            "test": (x[cut[1]:], y[cut[1]:])}


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double().cpu() - b[k].double().cpu()).abs().max()) for k in a)


def bitwise(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def agreement(device: torch.device, out: Path, smoke: bool) -> dict[str, Any]:
    split = digits_split(400 if smoke else None)
    result: dict[str, Any] = {}
    graphs = "auto" if device.type == "cuda" else False
    for bn in (False, True):
        spec = ModelSpec(64, 3, 32, bn, "relu")

        def train(dev: str, compile: bool | str, scales: list[float] | None = None,
                  spec: ModelSpec = spec):
            settings = TrainSettings(seeds=[0, 1, 2], epochs=2, batch_size=BATCH_SIZE,
                                     lr=3e-3, lr_decay=0.99, device=dev, compile=compile,
                                     lr_scale=scales)
            return train_batched(spec, split, settings, progress=False)

        cpu = train("cpu", False)
        eager = [train(str(device), False) for _ in range(2)]
        graphed = [train(str(device), graphs) for _ in range(2)]
        scaled = [train(str(device), c, [1.0, 0.3, 0.1]) for c in (False, graphs)]
        key = f"bn={bn}"
        result[key] = {
            "eager_twice_bitwise": bitwise(eager[0].best, eager[1].best),
            "graphed_twice_bitwise": bitwise(graphed[0].best, graphed[1].best),
            "graphed_vs_eager_max_param_diff": max_difference(graphed[0].best, eager[0].best),
            "scaled_graphed_vs_eager_max_param_diff": max_difference(scaled[1].best,
                                                                     scaled[0].best),
            "device_vs_cpu_max_param_diff": max_difference(eager[0].best, cpu.best),
            "device_vs_cpu_max_val_acc_diff": float(np.abs(
                eager[0].history["validation_acc"].to_numpy()
                - cpu.history["validation_acc"].to_numpy()).max()),
            "graphed": graphed[0].graphed,
        }
        if bn:
            result["on_cpu"] = read_back_on_cpu(graphed[0], split, device, out)
    return result


def read_back_on_cpu(trained, split: Split, device: torch.device, out: Path) -> dict[str, Any]:
    """A models.pt from the device, read on the CPU; extraction and the binned KDE on the
    device twice (bitwise?) and against the CPU."""
    path = out / "models_check.pt"
    torch.save(trained.to_checkpoint(), path)
    checkpoint = read_models(path)
    path.unlink()
    x, y = to_device({"test": split["test"]}, torch.device("cpu"))["test"]
    on_cpu = load_models(checkpoint, "best", "cpu")
    on_device = load_models(checkpoint, "best", str(device))
    cpu_metrics = evaluate(on_cpu, x, y)
    device_metrics = evaluate(on_device, x.to(device), y.to(device)).cpu()

    def preactivations(model, xs):
        with torch.no_grad():
            return torch.stack(model(xs, return_preactivations=True)[1])  # (L, S, N, W)

    pre = [preactivations(on_device, x.to(device)) for _ in range(2)]
    pre_cpu = preactivations(on_cpu, x)

    def densities(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        layer = values[0].double()  # (S, N, W)
        span = torch.stack([layer.amin(dim=1), layer.amax(dim=1)])
        kde = BinnedKDE(layer, labels, 10, 0.2, span, 24)
        return kde(layer)

    dens = [densities(p, y.to(device)) for p in pre]
    dens_cpu = densities(pre_cpu, y)
    return {
        "test_acc_cpu": cpu_metrics[1].tolist(), "test_acc_device": device_metrics[1].tolist(),
        "test_loss_max_diff": float((cpu_metrics[0] - device_metrics[0]).abs().max()),
        "extraction_twice_bitwise": bool(torch.equal(pre[0], pre[1])),
        "extraction_vs_cpu_max_diff": float((pre[0].cpu() - pre_cpu).abs().max()),
        "kde_twice_bitwise": bool(torch.equal(dens[0], dens[1])),
        "kde_vs_cpu_max_rel_diff": float(((dens[0].cpu() - dens_cpu).abs()
                                          / dens_cpu.abs().clamp(min=1e-6)).max()),
    }


# ------------------------------------------------------------------------ 3. concurrency

def worker(args: argparse.Namespace) -> None:
    """One of several processes on the device: set up, wait for the others, train, report."""
    started = time.perf_counter()
    device = resolve_device(args.device)
    size = sizes(args.smoke)
    n, dim = size["datasets"]["mnist"]
    x, y = (t.to(device) for t in synthetic(n, dim, seed=args.worker))
    _, depth, width, _, seeds = size["networks"][0]
    spec = ModelSpec(dim, depth, width, False, "relu")
    model = build_model(spec, list(range(seeds)), device).train()
    optimiser = _optimiser(model, 1e-3, [1.0] * seeds, graphed=True)
    kind = GraphedEpoch if device.type == "cuda" and args.graphs else CounterEpoch
    runner = kind(model, optimiser, x, y, BATCH_SIZE)
    generator = torch.Generator().manual_seed(args.worker)
    runner.run(torch.stack([torch.randperm(n, generator=generator) for _ in range(seeds)]))
    sync(device)
    ready = Path(args.barrier)
    (ready / f"{args.worker}.ready").touch()
    setup = time.perf_counter() - started
    while len(list(ready.glob("*.ready"))) < args.of:
        time.sleep(0.005)
    start = time.perf_counter()
    for _ in range(size["concurrent_epochs"]):
        runner.run(torch.stack([torch.randperm(n, generator=generator) for _ in range(seeds)]))
    sync(device)
    seconds = time.perf_counter() - start
    steps = size["concurrent_epochs"] * -(-n // BATCH_SIZE)
    print(json.dumps({"steps": steps, "seconds": seconds, "setup_s": setup}))


def concurrency(args: argparse.Namespace, graphs: bool) -> list[dict[str, Any]]:
    rows = []
    for count in sizes(args.smoke)["processes"]:
        with tempfile.TemporaryDirectory() as barrier:
            command = [sys.executable, __file__, "--worker-of", str(count), "--barrier", barrier,
                       "--device", args.device] + (["--smoke"] if args.smoke else []) + \
                      ([] if graphs else ["--no-graphs"])
            procs = [subprocess.Popen([*command, "--worker", str(k)], stdout=subprocess.PIPE,
                                      text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                     for k in range(count)]
            reports = []
            for proc in procs:
                stdout, _ = proc.communicate(timeout=600)
                if proc.returncode != 0:
                    raise RuntimeError(f"a concurrency worker failed with {proc.returncode}")
                reports.append(json.loads(stdout.strip().splitlines()[-1]))
        wall = max(r["seconds"] for r in reports)
        summed = sum(r["steps"] for r in reports) / wall
        rows.append({"processes": count, "steps_per_s_each": [r["steps"] / r["seconds"]
                                                              for r in reports],
                     "summed_steps_per_s": summed, "setup_s": max(r["setup_s"] for r in reports)})
        print(f"  {count} process(es): summed {summed:.1f} steps/s", flush=True)
    base = rows[0]["summed_steps_per_s"]
    for row in rows:
        row["speedup"] = row["summed_steps_per_s"] / base
    return rows


# ---------------------------------------------------------------------------- 4. fmnist

def write_tiny_fmnist(folder: Path, samples: int) -> Path:
    """Files in the published format (IDX, gzipped), random pixels: for --smoke."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for (images, labels), n in zip((FMNIST_FILES[:2], FMNIST_FILES[2:]),
                                   (samples, samples // 5), strict=True):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        for name, array in ((images, pixels), (labels, rng.integers(0, 10, n, dtype=np.uint8))):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(
                int(d).to_bytes(4, "big") for d in array.shape)
            with gzip.open(folder / name, "wb") as f:
                f.write(header + array.tobytes())
    return folder


def fmnist_split(folder: Path, validation: int) -> Split:
    """The split stage's rule for official sets: a stratified validation set drawn from the
    published training set (seed 0), the published test set as test."""
    from sklearn.model_selection import train_test_split

    x, y = read_idx_pair(folder / FMNIST_FILES[0], folder / FMNIST_FILES[1])
    x_test, y_test = read_idx_pair(folder / FMNIST_FILES[2], folder / FMNIST_FILES[3])
    train, val = train_test_split(np.arange(len(y)), test_size=validation, stratify=y,
                                  random_state=0)
    flat = x.reshape(len(x), -1)
    return {"train": (flat[train], y[train]), "validation": (flat[val], y[val]),
            "test": (x_test.reshape(len(x_test), -1), y_test)}


def fmnist(folder: Path, size: dict, device: torch.device, graphs: bool) -> dict[str, Any]:
    split = fmnist_split(folder, 5000 if size["fmnist_samples"] is None else 100)
    settings = TrainSettings(seeds=[0, 1, 2], epochs=size["fmnist_epochs"],
                             batch_size=BATCH_SIZE, lr=1e-3, lr_decay=0.99, device=str(device),
                             compile=graphs)
    spec = ModelSpec(784, 6, 100, False, "relu")
    start = time.perf_counter()
    result = train_batched(spec, split, settings, progress=False)
    seconds = time.perf_counter() - start
    per_epoch = result.history.groupby("epoch")["validation_acc"].mean()
    return {"files": str(folder), "split": {p: len(split[p][1]) for p in PARTS},
            "network": "6x100 relu, no batch norm, 3 seeds, lr 1e-3 (not searched)",
            "epochs": settings.epochs, "seconds": seconds, "graphed": result.graphed,
            "validation_acc_per_epoch": [round(float(v), 2) for v in per_epoch],
            "best_validation_acc": [round(float(v), 2) for v in
                                    result.history.groupby("seed")["validation_acc"].max()]}


# ------------------------------------------------------------------------- 5. projection

def fit_times(rows: list[dict[str, Any]], kind: str) -> dict[str, float]:
    """Seconds per batched step = a + b * (models x weights), by least squares (a, b >= 0),
    and seconds per evaluated sample = c * (models x weights)."""
    from scipy.optimize import nnls

    work = np.array([r["models"] * r["weights"] for r in rows], dtype=float)
    step = np.array([1.0 / r[kind] for r in rows])
    (a, b), _ = nnls(np.stack([np.ones_like(work), work], axis=1), step)
    per_sample = np.array([r["eval_s"] / r["samples"] for r in rows])
    c = float(np.sum(per_sample * work) / np.sum(work * work))
    return {"step_s": float(a), "step_s_per_weight": float(b), "eval_s_per_weight": c}


def project(plan: dict[str, Any], fit: dict[str, float]) -> dict[str, float]:
    """Training seconds of a plan, one process: every train and tune stack."""
    def stack_seconds(models: int, weights: int, epochs: int, steps: int, samples: int) -> float:
        step = fit["step_s"] + fit["step_s_per_weight"] * models * weights
        evaluation = fit["eval_s_per_weight"] * models * weights * samples
        return epochs * steps * step + (epochs + 1) * evaluation

    train = tune = 0.0
    for config in plan["per_config"].values():
        args = config["weights"], config["epochs"], config["steps_per_epoch"]
        train += stack_seconds(config["models"], *args, config["eval_samples"])
        for models in config["tune_rounds"]:
            tune += stack_seconds(models, config["weights"], config["tune_epochs"],
                                  config["steps_per_epoch"], config["eval_samples"])
    return {"train_s": train, "tune_s": tune, "total_s": train + tune}


# ----------------------------------------------------------------------------- driver

def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU check: {report['device_name']}", "",
             f"torch {report['torch']}, {report['mode']} mode, {report['seconds']:.0f} s in all.",
             "", "## Throughput (batched optimiser steps per second; ratio to naive)", "",
             "| data | network | models | naive | eager | graphed | eager/naive | "
             "graphed/naive | graphed/eager | capture s | peak MiB |", "|---" * 11 + "|"]
    for r in report["throughput"]:
        naive = r.get("naive")
        eager, graphed = ((f"{r[k] / naive:.1f}x" if naive else "") for k in ("eager", "graphed"))
        peak = f"{r['peak_mib']:.0f}" if r.get("peak_mib") is not None else ""
        lines.append(f"| {r['dataset']} {r['samples']} | {r['network']} | {r['models']} | "
                     f"{naive or float('nan'):.0f} | {r['eager']:.0f} | {r['graphed']:.0f} | "
                     f"{eager} | {graphed} | "
                     f"{r['graphed'] / r['eager']:.2f}x | {r['capture_s']:.2f} | {peak} |")
    lines += ["", "## Processes on one device", "", "| processes | summed steps/s | speedup |",
              "|---|---|---|"]
    lines += [f"| {r['processes']} | {r['summed_steps_per_s']:.0f} | {r['speedup']:.2f}x |"
              for r in report["concurrency"]]
    lines += ["", "## Agreement", "", "```", json.dumps(report["agreement"], indent=1), "```"]
    f = report["fmnist"]
    lines += ["", "## Fashion-MNIST 6x100 ReLU x 3 seeds", ""]
    lines += [f"{f['epochs']} epochs in {f['seconds']:.1f} s (graphed: {f['graphed']}); "
              f"validation accuracy per epoch (mean of seeds): "
              f"{', '.join(map(str, f['validation_acc_per_epoch']))}"] if "epochs" in f else \
        [f.get("skipped", "")]
    p = report.get("projection")
    lines += ["", "## Projected training time of the plan", ""]
    if p:
        lines += [f"{p['source']}: {p['engine']} engine, 1 process "
                  f"{p['one_process_s'] / 60:.1f} min; {p['best_processes']} processes "
                  f"{p['best_s'] / 60:.1f} min; goal {GOAL_SECONDS / 60:.0f} min "
                  f"({'met' if p['best_s'] <= GOAL_SECONDS else 'not met'})."]
    else:
        lines.append("no plan (pass --plan FILE from "
                     "python -m activation_study.pipeline.plan --json)")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", type=Path, help="folder for gpu_check.json and .md")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, in seconds")
    p.add_argument("--device", default=None, help="default: cuda, or cpu with --smoke")
    p.add_argument("--plan", type=Path, default=None,
                   help="plan JSON (python -m activation_study.pipeline.plan presets/paper.yaml "
                        "--json F);"
                        " default: computed from presets/paper.yaml where pydantic imports")
    p.add_argument("--fmnist", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                   help="folder of the four published Fashion-MNIST files")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-of", dest="of", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--barrier", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-graphs", dest="graphs", action="store_false", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.device = args.device or ("cpu" if args.smoke else "cuda")
    if args.worker is None and args.out is None:
        p.error("the output folder OUT is required")
    return args


def load_plan(path: Path | None) -> dict[str, Any] | None:
    if path is not None:
        return json.loads(path.read_text())
    try:
        from activation_study.params.validated import load_params
        from activation_study.pipeline.plan import plan
    except ImportError as error:  # pydantic missing on a bare GPU machine
        print(f"  no plan: {error}; pass --plan", flush=True)
        return None
    source = Path(__file__).resolve().parents[1] / "presets" / "paper.yaml"
    return {"source": str(source.name), **plan(load_params(source))}


def section(name: str, run: Callable[[], Any], report: dict[str, Any]) -> None:
    print(f"{name} ...", flush=True)
    start = time.perf_counter()
    report[name] = run()
    report.setdefault("section_seconds", {})[name] = time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1 if args.smoke else min(4, os.cpu_count() or 1))
    if args.worker is not None:
        worker(args)
        return {}
    started = time.perf_counter()
    device = resolve_device(args.device)
    size = sizes(args.smoke)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"device": str(device), "device_name": device_name(device),
                              "torch": torch.__version__, "mode": "smoke" if args.smoke else
                              "full", "sizes": size}
    section("throughput", lambda: throughput(size, device), report)
    section("agreement", lambda: agreement(device, args.out, args.smoke), report)
    # graphs serve training only once they matched eager here
    agreed = all(v["graphed_vs_eager_max_param_diff"] < 1e-3 and v["graphed_twice_bitwise"]
                 for k, v in report["agreement"].items() if k.startswith("bn="))
    graphs = device.type == "cuda" and agreed
    report["graphs_used_after_agreement"] = graphs
    section("concurrency", lambda: concurrency(args, graphs), report)
    folder = args.fmnist
    if args.smoke:
        folder = write_tiny_fmnist(args.out / "fmnist_smoke", size["fmnist_samples"])
    if all((folder / name).is_file() for name in FMNIST_FILES):
        section("fmnist", lambda: fmnist(folder, size, device, graphs), report)
    else:
        report["fmnist"] = {"skipped": f"no Fashion-MNIST files in {folder}"}
    plan = load_plan(args.plan)
    if plan is not None:
        kind = "graphed" if graphs else "eager"
        fit = fit_times(report["throughput"], kind)
        one = project(plan, fit)
        best = max(report["concurrency"], key=lambda r: r["speedup"])
        report["projection"] = {"source": plan.get("source", "plan"), "engine": kind,
                                "fit": fit, **one, "one_process_s": one["total_s"],
                                "best_processes": best["processes"],
                                "best_s": one["total_s"] / best["speedup"],
                                "goal_s": GOAL_SECONDS}
    report["seconds"] = time.perf_counter() - started
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
