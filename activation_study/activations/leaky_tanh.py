"""Leaky tanh: tanh(z) for z >= 0, factor * tanh(z) below (seed 003)."""

import torch

SHAPE = {"name": "factor", "default": 0.25, "range": (0.0, 1.0)}
INIT = "xavier"
ON_THRESHOLD = 0.0
SOURCE = "003"
TANH_BAND = 0.95  # |tanh| < 0.95 is "not saturated" (seed 004)


def BAND(factor: float) -> tuple[float, float]:  # noqa: N802 (a field that depends on the shape)
    """tanh's band on each side, scaled below 0."""
    return (-factor * TANH_BAND, TANH_BAND)


def forward(z: torch.Tensor, shape: float) -> torch.Tensor:
    t = torch.tanh(z)
    return torch.where(z >= 0, t, shape * t)
