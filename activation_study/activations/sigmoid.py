"""The logistic sigmoid, 1 / (1 + exp(-z)): the study's subject beside ReLU (000 and 001)."""

import torch

SHAPE = None
INIT = "xavier"
ON_THRESHOLD = 0.5
# sigmoid(z) = (1 + tanh(z/2)) / 2: the same band as tanh's |tanh| < 0.95
BAND = (0.025, 0.975)
SOURCE = "000, 001"


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return torch.sigmoid(z)
