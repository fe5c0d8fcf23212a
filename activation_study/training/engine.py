"""The batched training engine: all seeds of one configuration in one process, one model.

Recipe (dissertation 3.3): Adam, learning rate times ``lr_decay`` after every epoch,
mini-batches reshuffled every epoch, cross-entropy, no weight decay; early stopping keeps,
per seed, the parameters of the epoch with the highest validation accuracy.

Why this equals training each seed alone: every seed has its own initialisation and
shuffling generators (``model.seed_generators``), its own mini-batch, and its own loss
term; the summed loss gives each seed's parameters exactly its own gradient, and Adam is
elementwise, so the stacked optimiser state is S independent optimiser states.
The whole split sits on the device; batches are gathered by index, no DataLoader.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from activation_study.common.errors import ParamError
from activation_study.common.param_reader import (
    activation_shape,
    batch_size_problem,
    compile_problem,
    get,
    require,
)
from activation_study.data.arrays import load_classes, load_split
from activation_study.network.model import (
    BatchedMLP,
    ModelSpec,
    as_inputs,
    build_model,
    per_sample_loss,
    resolve_device,
    seed_generators,
    use_deterministic_algorithms,
)
from activation_study.training.checkpoints import Checkpoint, CheckpointWarning, to_cpu
from activation_study.training.stacked_adam import StackedAdam
from activation_study.training.train_step import EagerEpoch, GraphedEpoch

Split = dict[str, tuple[np.ndarray, np.ndarray]]
State = dict[str, torch.Tensor]
EVAL_CHUNK = 8192
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class TrainSettings:
    seeds: list[int]
    epochs: int
    batch_size: int
    lr: float
    lr_decay: float
    snapshot_epochs: list[int] = field(default_factory=list)
    device: str = "auto"
    # model k trains at lr * lr_scale[k] (candidates of a learning-rate search side by side)
    lr_scale: list[float] | None = None
    compile: bool | str = False  # CUDA graphs of the step: True, False or "auto" (on CUDA)
    matmul_precision: str = "highest"  # torch.set_float32_matmul_precision ("high": TF32)


@dataclass
class TrainResult:
    spec: ModelSpec
    seeds: list[int]
    initial: State
    best: State
    best_epoch: np.ndarray  # (S,) epoch (1-based) whose parameters were kept
    snapshots: dict[int, State]
    history: pd.DataFrame  # one row per seed and epoch (epoch 0 = initialisation)
    seconds: float
    device: str
    graphed: bool = False  # the steps ran as replayed CUDA graphs (train.compile)
    matmul_precision: str = "highest"

    def training(self) -> dict[str, Any]:
        """How the parameters were computed: recorded in models.pt and the metrics."""
        return {"device": self.device, "compile": self.graphed,
                "matmul_precision": self.matmul_precision}

    def to_checkpoint(self) -> dict:
        """Everything later stages need, as CPU tensors and plain lists (loadable with
        ``torch.load(weights_only=True)`` on any machine, whatever device trained it)."""
        return to_cpu({
            "spec": self.spec.to_dict(),
            "seeds": self.seeds,
            "initial": self.initial,
            "best": self.best,
            "best_epoch": self.best_epoch.tolist(),
            "snapshots": self.snapshots,
            "training": self.training(),
        })


def to_device(split: Split, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Inputs as float32 on the device, once for the whole run (``as_inputs``)."""
    return {
        part: (as_inputs(x, device),
               torch.as_tensor(y, device=device).long())
        for part, (x, y) in split.items()
    }


def clone_state(model: BatchedMLP) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def evaluate(model: BatchedMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy and accuracy (%) of every model on a shared sample set, eval mode:
    a (2, S) float64 tensor on the device (the caller copies all metrics to the host at once)."""
    was_training = model.training
    model.eval()
    loss = torch.zeros(model.num_models, device=x.device, dtype=torch.float64)
    correct = torch.zeros(model.num_models, device=x.device, dtype=torch.float64)
    for start in range(0, len(x), EVAL_CHUNK):
        logits = model(x[start:start + EVAL_CHUNK])
        yb = y[start:start + EVAL_CHUNK]
        ce = per_sample_loss(logits, yb.expand(model.num_models, -1))
        loss += ce.sum(dim=1, dtype=torch.float64)
        correct += (logits.argmax(dim=2) == yb).sum(dim=1)
    model.train(was_training)
    n = len(x)
    return torch.stack([loss / n, 100.0 * correct / n])


def _configure_determinism(device: torch.device, matmul_precision: str) -> None:
    use_deterministic_algorithms(device)
    torch.set_float32_matmul_precision(matmul_precision)


def use_graphs(compile: bool | str, device: torch.device) -> bool:
    """``train.compile``: ``auto`` is CUDA graphs on CUDA devices; ``True`` asks for them."""
    if compile == "auto":
        return device.type == "cuda"
    problem = compile_problem(compile, device.type == "cuda")
    if problem:
        raise ParamError(problem)
    return bool(compile)


def train_batched(
    spec: ModelSpec,
    split: Split,
    settings: TrainSettings,
    on_epoch: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    progress: bool = True,
    label: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> TrainResult:
    """Train one model per seed, all at once; return initial, kept and snapshot parameters.

    ``label`` names the run on the progress bar (default: the network and its seeds).
    With ``checkpoint``, the whole training state is saved every ``checkpoint.every`` epochs
    and a valid saved state is resumed from: the result is bit for bit that of an
    uninterrupted run (``on_epoch`` is replayed for the epochs already done)."""
    device = resolve_device(settings.device)
    _configure_determinism(device, settings.matmul_precision)
    graphed = use_graphs(settings.compile, device)
    data = to_device(split, device)
    x_train, y_train = data["train"]
    n_train, s = len(x_train), len(settings.seeds)

    model = build_model(spec, settings.seeds, device)
    model.train()
    scales = [1.0] * s if settings.lr_scale is None else list(settings.lr_scale)
    if len(scales) != s:
        raise ValueError(f"lr_scale has {len(scales)} factors for {s} models")
    shufflers = [seed_generators(seed)[1] for seed in settings.seeds]
    optimiser = _optimiser(model, settings.lr, scales, graphed)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=settings.lr_decay)
    run = _RunState(initial=clone_state(model), best=clone_state(model),
                    best_val=[-math.inf] * s, best_epoch=[0] * s)

    def record(epoch: int, lr: float) -> dict[str, np.ndarray]:
        values = torch.cat([evaluate(model, *data[part]) for part in PARTS]).cpu().numpy()
        names = [f"{part}_{metric}" for part in PARTS for metric in ("loss", "acc")]
        metrics = dict(zip(names, values, strict=True))
        run.logged.append({"lr": lr, **{name: v.tolist() for name, v in metrics.items()}})
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        return metrics

    saved = _load(checkpoint) if checkpoint is not None else None
    written: set[str] = set()  # checkpoint parts this run has on disk
    if saved is None:
        record(0, settings.lr)
    else:
        run = _RunState.restore(*saved, model, optimiser, scheduler, shufflers, device)
        written.update(saved[1])
        print(f"resuming from epoch {run.epoch} of {settings.epochs} ({checkpoint.path})",
              file=sys.stderr)
        if on_epoch is not None:
            for epoch, logged in enumerate(run.logged):
                on_epoch(epoch, {name: np.asarray(v) for name, v in logged.items()
                                 if name != "lr"})
    runner = (GraphedEpoch if graphed else EagerEpoch)(model, optimiser, x_train, y_train,
                                                       settings.batch_size)
    start = time.perf_counter() - run.seconds
    label = label or (f"train {spec.activation} {spec.depth}x{spec.width} "
                      f"bn={int(spec.batchnorm)} x{s} seeds")
    bar = tqdm(range(run.epoch + 1, settings.epochs + 1), desc=label, unit="epoch",
               disable=not progress, initial=run.epoch, total=settings.epochs)
    for epoch in bar:
        lr = optimiser.param_groups[0]["lr"]
        # each seed's batch order from its own generator, drawn on the CPU once per epoch
        runner.run(torch.stack([torch.randperm(n_train, generator=g) for g in shufflers]))
        scheduler.step()
        if isinstance(optimiser, StackedAdam):
            optimiser.sync_lr()

        metrics = record(epoch, lr)
        improved = metrics["validation_acc"] > np.asarray(run.best_val)
        if improved.any():
            _keep_improved(run.best, model, torch.as_tensor(improved).to(device))
            run.best_val = np.where(improved, metrics["validation_acc"], run.best_val).tolist()
            run.best_epoch = np.where(improved, epoch, run.best_epoch).tolist()
        if epoch in settings.snapshot_epochs:
            run.snapshots[epoch] = clone_state(model)
        bar.set_postfix(val_acc=f"{metrics['validation_acc'].mean():.2f}",
                        loss=f"{metrics['train_loss'].mean():.4f}")
        run.epoch = epoch
        if checkpoint is not None and checkpoint.due(epoch, settings.epochs):
            run.seconds = time.perf_counter() - start
            _save(checkpoint, run, run.to_state(model, optimiser, scheduler, shufflers), written)

    return TrainResult(
        spec=spec, seeds=list(settings.seeds), initial=run.initial, best=run.best,
        best_epoch=np.asarray(run.best_epoch, dtype=np.int64), snapshots=run.snapshots,
        history=_history(run.logged, settings.seeds, scales), seconds=time.perf_counter() - start,
        device=str(device), graphed=graphed, matmul_precision=settings.matmul_precision,
    )


def _optimiser(model: BatchedMLP, lr: float, scales: list[float],
               graphed: bool) -> torch.optim.Optimizer:
    """torch's fused Adam (one kernel for all parameters; Adam is elementwise, so seeds stay
    independent) when every model has the base rate and the step runs eagerly; the stacked
    Adam for a rate per model or for graph capture (its state and rate stay on the device)."""
    if graphed or any(scale != 1.0 for scale in scales):
        return StackedAdam(model.parameters(), lr=lr, lr_scale=scales)
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


@torch.no_grad()
def _keep_improved(best: State, model: BatchedMLP, improved: torch.Tensor) -> None:
    """Models whose validation accuracy improved keep their current parameters as their
    best: ``torch.where`` over the model axis, with no host synchronisation."""
    for name, value in model.state_dict().items():
        mask = improved.view(-1, *[1] * (value.dim() - 1))
        best[name].copy_(torch.where(mask, value, best[name]))


@dataclass
class _RunState:
    """What a training run has accumulated, beside the model and optimiser: what a resume
    checkpoint holds."""

    initial: State
    best: State
    best_val: list[float]  # per model: best validation accuracy so far
    best_epoch: list[int]
    snapshots: dict[int, State] = field(default_factory=dict)
    # per epoch (0 = initialisation): the base learning rate and every metric per model
    logged: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0  # the last epoch done
    seconds: float = 0.0  # training time before this process

    def frozen(self) -> dict[str, State]:
        """The parameters that never change once made, by checkpoint part name."""
        return {"initial": self.initial,
                **{f"snapshot-{epoch}": weights for epoch, weights in self.snapshots.items()}}

    def to_state(self, model: BatchedMLP, optimiser: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler,
                 shufflers: list[torch.Generator]) -> dict:
        """Everything but the frozen parameters, which it names."""
        return {**{k: v for k, v in vars(self).items() if k not in ("initial", "snapshots")},
                "frozen": list(self.frozen()), "model": model.state_dict(),
                "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                "shufflers": [g.get_state() for g in shufflers]}

    @classmethod
    def restore(cls, state: dict, frozen: dict[str, State], model: BatchedMLP,
                optimiser: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler,
                shufflers: list[torch.Generator], device: torch.device) -> _RunState:
        """Load ``state`` into the model, optimiser, scheduler and generators."""
        model.load_state_dict(state.pop("model"))
        optimiser.load_state_dict(state.pop("optimiser"))
        scheduler.load_state_dict(state.pop("scheduler"))
        for generator, generator_state in zip(shufflers, state.pop("shufflers"), strict=True):
            generator.set_state(generator_state)
        del state["frozen"]
        run = cls(**state, initial=_on(frozen["initial"], device))
        run.best = _on(run.best, device)
        run.snapshots = {int(name.removeprefix("snapshot-")): _on(weights, device)
                         for name, weights in frozen.items() if name != "initial"}
        return run


def _save(checkpoint: Checkpoint, run: _RunState, state: dict, written: set[str]) -> None:
    """Write the frozen parameters not yet on disk, each to a part of its own, then the
    state that names them: a save writes the changing state only (model, Adam moments,
    best), not the initial and snapshot parameters again."""
    for name, weights in run.frozen().items():
        if name not in written:
            checkpoint.part(name).save(weights)
            written.add(name)
    checkpoint.save(state)


def _load(checkpoint: Checkpoint) -> tuple[dict, dict[str, State]] | None:
    """The saved state and its frozen parts, or None (start afresh) if any is unusable."""
    state = checkpoint.load()
    if state is None:
        return None
    frozen = {name: checkpoint.part(name).load() for name in state["frozen"]}
    missing = [name for name, weights in frozen.items() if weights is None]
    if missing:
        warnings.warn(f"{checkpoint.path}: its parts {missing} are missing or unusable; "
                      "starting afresh", CheckpointWarning, stacklevel=2)
        return None
    return state, frozen


def _history(logged: list[dict[str, Any]], seeds: list[int],
             scales: list[float]) -> pd.DataFrame:
    """One row per epoch and model: seed, epoch, its learning rate and its metrics."""
    epochs, models = len(logged), len(seeds)
    metrics = [name for name in logged[0] if name != "lr"]
    return pd.DataFrame({
        "seed": np.tile(np.asarray(seeds, dtype=np.int64), epochs),
        "epoch": np.repeat(np.arange(epochs, dtype=np.int64), models),
        "lr": np.outer([entry["lr"] for entry in logged], scales).ravel(),
        **{name: np.concatenate([entry[name] for entry in logged]) for name in metrics},
    })


def _on(state: State, device: torch.device) -> State:
    return {name: value.to(device) for name, value in state.items()}


def network_and_split(config: Mapping[str, Any], params: dict,
                      split_root: Path) -> tuple[ModelSpec, Split]:
    """The model spec of one configuration (``config``: its ``dataset``, ``activation``,
    ``depth``, ``width`` and ``batchnorm``) and its dataset's stored split, read from
    ``split_root / dataset`` (the split stage's folder), after checking the batch size against
    the split's training samples."""
    folder = split_root / config["dataset"]
    split = load_split(folder)
    n, batch = len(split["train"][1]), get(params, "train.batch_size")
    # validate checks these up front for the built-in sets; a file of your own is counted here
    problem = batch_size_problem(batch, n, config["dataset"], config["batchnorm"])
    require(problem is None, "train.batch_size", batch, problem)
    spec = ModelSpec(input_dim=split["train"][0].shape[1], depth=config["depth"],
                     width=config["width"], batchnorm=config["batchnorm"],
                     activation=config["activation"], num_classes=len(load_classes(folder)),
                     shape=activation_shape(params, config["activation"]))
    return spec, split
