"""The activation functions of the study, by name, and their shape parameters.

The torch-free half of the registry: parameter validation reads it without importing torch,
and ``activations.py`` builds each function from it. Adding a function is an entry here and
its builder in ``activations.REGISTRY`` (the two are checked to name the same functions).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """A function's shape parameter: its name, its default (params.yaml, train.shape.<name>)
    and the open interval of allowed values."""

    name: str
    default: float
    range: tuple[float, float] = (0.0, 1.0)


# name -> its shape parameter, None when the function has none; in the order the README lists
ACTIVATIONS: dict[str, Shape | None] = {
    "relu": None,
    "sigmoid": None,
    "tanh": None,
    "leaky_relu": Shape("slope", 0.01),
    "rescaled_sigmoid": None,
    "leaky_tanh": Shape("factor", 0.25),
    "prelu": Shape("initial slope", 0.25),
    "elu": None,
    "gelu": None,
    "silu": None,
}
