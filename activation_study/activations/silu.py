"""SiLU (swish), z * sigmoid(z) (modern networks)."""

import math

import torch
import torch.nn.functional as F

SHAPE = None
INIT = "he"
ON_THRESHOLD = 0.0
BAND = (0.0, math.inf)  # the ReLU family's rule
SOURCE = "modern networks"


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return F.silu(z)
