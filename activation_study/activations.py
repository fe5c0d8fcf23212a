"""The activation-function registry: adding a function is one entry here.

Each entry says how the function is computed, how its layers are initialised, when a node
counts as "on" (theta = 1, dissertation ch. 5: the activation is above the threshold) and
which band of activation values is "not saturated" (seed 004's activation probability) and
whether the layer classifiers' "combined" system applies (dissertation ch. 6: the function
discards the magnitude of "off" pre-activations and keeps that of "on" ones, as ReLU does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

INIT_RULES = ("he", "xavier")


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    init: str  # "he": N(0, 2/fan_in); "xavier": N(0, 2/(fan_in + fan_out))
    on_threshold: float  # theta = 1 where the activation is > on_threshold
    band: tuple[float, float]  # not saturated where low < activation < high
    source: str
    combined_system: bool = False  # the ch. 6 combined classifier approximates the network

    def __post_init__(self) -> None:
        if self.init not in INIT_RULES:
            raise ValueError(f"activation {self.name}: init must be one of {INIT_RULES}")


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        # ReLU family: active (not saturated) where g(z) > 0
        Activation("relu", torch.relu, "he", 0.0, (0.0, math.inf), "000, 001",
                   combined_system=True),
        # sigmoid(z) = (1 + tanh(z/2)) / 2: the same band as tanh's |tanh| < 0.95
        Activation("sigmoid", torch.sigmoid, "xavier", 0.5, (0.025, 0.975), "000, 001"),
        Activation("tanh", torch.tanh, "xavier", 0.0, (-0.95, 0.95), "003, 004"),
    )
}


def get_activation(name: str) -> Activation:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(REGISTRY)}") from None
