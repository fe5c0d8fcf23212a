"""ReLU, max(0, z): the study's subject beside sigmoid (seeds 000 and 001)."""

import math

import torch

SHAPE = None
INIT = "he"
ON_THRESHOLD = 0.0
BAND = (0.0, math.inf)  # the ReLU family: active (not saturated) where g(z) > 0
SOURCE = "000, 001"
COMBINED_SYSTEM = True  # off: 0 whatever z; on: z itself


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return torch.relu(z)
