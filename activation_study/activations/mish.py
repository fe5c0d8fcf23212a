"""Mish, z * tanh(softplus(z)) (Misra 2019, "Mish: a self regularized non-monotonic
activation function"): the worked example of docs/activations.md, "Adding an activation".

Choices, as for the other smooth members of the ReLU family (GELU, SiLU):

- He initialisation: like ReLU it is unbounded above and near 0 below (its minimum is
  about -0.309 at z = -1.19), so the fan-in rule keeps the variance of the pre-activations.
- "On" where the output is > 0, which is exactly z > 0 (tanh(softplus(z)) > 0 for every z):
  the same on/off split as ReLU's, so node activity compares across the family.
- Not saturated where the output is > 0 (the ReLU family's band): below 0 the function is
  bounded in (-0.31, 0) and its slope vanishes as z -> -inf, as ReLU's is 0 there.
- No combined classifier system: the negative side keeps a (small) magnitude, as leaky
  ReLU's does.
"""

import math

import torch
import torch.nn.functional as F

SHAPE = None
INIT = "he"
ON_THRESHOLD = 0.0
BAND = (0.0, math.inf)
SOURCE = "Misra 2019 (arXiv:1908.08681)"


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return F.mish(z)
