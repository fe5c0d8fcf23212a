"""Resume checkpoints of the long stages (train, tune): ``checkpoints/<stage>/<config>/``.

A checkpoint holds the whole state of an interrupted run, written atomically every few
epochs. It lives outside the stage's declared outputs, so DVC neither deletes it before a
rerun nor loses its run-cache (``persist: true`` would do both), and its path names the
stage and configuration it belongs to. The stage removes the folder once its outputs are
written.

Each checkpoint carries the fingerprint of everything its run's results depend on: the
stage's inputs (settings, model spec, learning rate, torch version, device), the bytes of
the data it trains on, and the source of every project module loaded in the process. A
checkpoint with another fingerprint is never used; an unreadable one (truncated, corrupt)
is ignored with a warning. Loading is ``torch.load(weights_only=True)``: tensors and plain
containers only, never arbitrary objects.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from activation_study.common.atomic import write_atomic

CHECKPOINT_ROOT = Path("checkpoints")
PROJECT_PACKAGES = ("activation_study", "stages")


class CheckpointWarning(UserWarning):
    """A checkpoint was found but not used (unreadable, or made with other inputs)."""


def project_sources() -> dict[str, Path]:
    """The source file of every project module loaded in this process, by module name."""
    found = {}
    for key, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        name = spec.name if spec is not None else key  # ``python -m stages.x``: __main__
        path = getattr(module, "__file__", None)
        if path and name.split(".")[0] in PROJECT_PACKAGES:
            found[name] = Path(path)
    return dict(sorted(found.items()))


def fingerprint(inputs: dict[str, Any], arrays: Iterable[np.ndarray]) -> str:
    """SHA-256 of ``inputs`` (JSON), the arrays' bytes and the loaded project code."""
    digest = hashlib.sha256()
    digest.update(json.dumps(inputs, sort_keys=True, default=str).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    for name, path in project_sources().items():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def to_cpu(value: Any) -> Any:
    """A copy of nested dicts/lists/tuples with every tensor moved to the CPU.

    String keys are interned: pickle writes a repeated object once and refers back to it,
    so without this the bytes of a saved file would depend on whether two state dicts share
    key objects (they do in a fresh run, not after a resume)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value


@dataclass(frozen=True)
class Checkpoint:
    """One resumable state file, valid only for runs with the same ``fingerprint``."""

    path: Path
    fingerprint: str
    every: int  # epochs between saves

    def due(self, epoch: int, last_epoch: int) -> bool:
        """Save after ``epoch``? Every ``every`` epochs, never after the last one."""
        return epoch % self.every == 0 and epoch < last_epoch

    def save(self, state: dict[str, Any]) -> None:
        payload = {"fingerprint": self.fingerprint, "state": to_cpu(state)}
        write_atomic(self.path, lambda p: torch.save(payload, p))

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none, it is unreadable, or it was made with
        other inputs (both with a warning)."""
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            valid = isinstance(payload, dict) and "state" in payload
        except Exception as exc:  # any failure to read means: not usable
            warnings.warn(f"{self.path}: not used, it is unreadable ({exc}); starting afresh",
                          CheckpointWarning, stacklevel=2)
            return None
        if not valid:
            warnings.warn(f"{self.path}: not used, it is not a checkpoint of this project",
                          CheckpointWarning, stacklevel=2)
            return None
        if payload.get("fingerprint") != self.fingerprint:
            warnings.warn(f"{self.path}: not used, it was made with other inputs (parameters, "
                          "code or data); starting afresh", CheckpointWarning, stacklevel=2)
            return None
        return payload["state"]

    def part(self, name: str) -> Checkpoint:
        """A companion file of this checkpoint (``train-initial.pt``): what never changes
        after it is made is written once, not with every save."""
        return replace(self, path=self.path.with_name(f"{self.path.stem}-{name}.pt"))

    def remove(self) -> None:
        """Remove the file and its parts."""
        for path in [self.path, *self.path.parent.glob(f"{self.path.stem}-*.pt")]:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class CheckpointFolder:
    """The checkpoints of one stage run: ``checkpoints/<stage>/<config>/<name>.pt``."""

    folder: Path
    fingerprint: str
    every: int

    def checkpoint(self, name: str) -> Checkpoint:
        return Checkpoint(self.folder / f"{name}.pt", self.fingerprint, self.every)

    def clear(self) -> None:
        """Remove the folder (the stage's outputs are written; nothing left to resume)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def stage_checkpoints(stage: str, config: str, inputs: dict[str, Any],
                      split: dict[str, tuple[np.ndarray, np.ndarray]],
                      every: int) -> CheckpointFolder:
    """The checkpoint folder of ``stage@config``, fingerprinted with ``inputs``, the torch
    version, the split's arrays and the loaded project code."""
    inputs = {**inputs, "stage": stage, "config": config, "torch": torch.__version__}
    arrays = [array for part in sorted(split) for array in split[part]]
    return CheckpointFolder(CHECKPOINT_ROOT / stage / config, fingerprint(inputs, arrays), every)
