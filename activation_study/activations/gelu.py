"""GELU, z * Phi(z) (modern networks)."""

import math

import torch
import torch.nn.functional as F

SHAPE = None
INIT = "he"
ON_THRESHOLD = 0.0
BAND = (0.0, math.inf)  # the ReLU family's rule: not saturated where g(z) > 0
SOURCE = "modern networks"


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return F.gelu(z)
