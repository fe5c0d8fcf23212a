"""PReLU: z, or slope * z below 0, the slopes learned, one per node and seed (seed 003; He et
al. 2015). ``train.shape.prelu`` is the slopes' initial value."""

import math

import torch

SHAPE = {"name": "initial slope", "default": 0.25, "range": (0.0, 1.0)}
LEARNED_SHAPE = True
INIT = "he"
# on/off (z > 0) and the band need nothing learned (the slopes are > 0)
ON_THRESHOLD = 0.0
BAND = (0.0, math.inf)
SOURCE = "003 (He et al. 2015)"


def forward(z: torch.Tensor, shape: torch.Tensor | float) -> torch.Tensor:
    """``shape`` broadcasts: one slope per node and seed in a trained network."""
    return torch.where(z >= 0, z, shape * z)
