"""The trained models a train stage stored (``data/train/<config>/models.pt``), read safely and
rebuilt as networks: what extraction needs of training, without the training loop."""

from __future__ import annotations

from pathlib import Path

import torch

from activation_study.network.model import BatchedMLP, ModelSpec


def read_models(path: Path) -> dict:
    """A train stage's ``models.pt``, on the CPU: tensors and plain containers only
    (``weights_only``), never arbitrary pickled objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_models(checkpoint: dict, state: str = "best", device: str = "cpu") -> BatchedMLP:
    """Rebuild the stacked models of a checkpoint in ``state`` ('initial', 'best' or an epoch)."""
    spec = ModelSpec(**checkpoint["spec"])
    model = BatchedMLP(spec, len(checkpoint["seeds"]))
    weights = checkpoint["snapshots"][state] if isinstance(state, int) else checkpoint[state]
    model.load_state_dict(weights)
    return model.to(device).eval()
