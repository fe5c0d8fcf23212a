"""Leaky ReLU: z, or slope * z below 0 (seed 003; slopes 0.1 and 0.25 there)."""

import math

import torch
import torch.nn.functional as F

SHAPE = {"name": "slope", "default": 0.01, "range": (0.0, 1.0)}
INIT = "he"
ON_THRESHOLD = 0.0
# the negative side keeps its magnitude (scaled): no combined system; the ReLU family's band
BAND = (0.0, math.inf)
SOURCE = "003"


def forward(z: torch.Tensor, shape: float) -> torch.Tensor:
    return F.leaky_relu(z, shape)
