"""The activation-function registry: adding a function is one entry here.

Each entry says how the function is computed, how its layers are initialised and when a
node counts as "on" (theta = 1, dissertation ch. 5: the activation is above the threshold).
"""

from __future__ import annotations

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
    source: str

    def __post_init__(self) -> None:
        if self.init not in INIT_RULES:
            raise ValueError(f"activation {self.name}: init must be one of {INIT_RULES}")


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", torch.relu, "he", 0.0, "000, 001"),
        Activation("sigmoid", torch.sigmoid, "xavier", 0.5, "000, 001"),
        Activation("tanh", torch.tanh, "xavier", 0.0, "003, 004"),
    )
}


def get_activation(name: str) -> Activation:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(REGISTRY)}") from None
