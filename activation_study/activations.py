"""The activation-function registry: how each function of ``activation_names`` is computed.

Each entry says how the function is computed, how its layers are initialised, when a node
counts as "on" (theta = 1, dissertation ch. 5: the activation is above the threshold) and
which band of activation values is "not saturated" (seed 004's activation probability) and
whether the layer classifiers' "combined" system applies (dissertation ch. 6: the function
discards the magnitude of "off" pre-activations and keeps that of "on" ones, as ReLU does).

A function with a shape parameter (leaky ReLU's slope, leaky tanh's negative-side factor,
PReLU's initial slope) takes it from ``train.shape.<name>``; the trained model's spec records
it, so every later stage computes the same function. :func:`get_activation` binds it. PReLU's
slopes are learned, one per node and seed (``learned_slope``): the model holds them, and
extraction saves them for the analyses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from activation_study.activation_names import ACTIVATIONS, Shape

INIT_RULES = ("he", "xavier")
TANH_BAND = 0.95  # |tanh| < 0.95 is "not saturated" (seed 004)


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    init: str  # "he": N(0, 2/fan_in); "xavier": N(0, 2/(fan_in + fan_out))
    on_threshold: float  # theta = 1 where the activation is > on_threshold
    band: tuple[float, float]  # not saturated where low < activation < high
    source: str
    combined_system: bool = False  # the ch. 6 combined classifier approximates the network
    learned_slope: float | None = None  # PReLU: the initial value of its learned slopes

    def __post_init__(self) -> None:
        if self.init not in INIT_RULES:
            raise ValueError(f"activation {self.name}: init must be one of {INIT_RULES}")


@dataclass(frozen=True)
class Family:
    """A registry entry: builds the :class:`Activation` for a shape parameter value."""

    build: Callable[[float], Activation]
    shape: Shape | None  # its shape parameter (activation_names), None when there is none


def _relu(_: float) -> Activation:
    # ReLU family: active (not saturated) where g(z) > 0
    return Activation("relu", torch.relu, "he", 0.0, (0.0, math.inf), "000, 001",
                      combined_system=True)


def _sigmoid(_: float) -> Activation:
    # sigmoid(z) = (1 + tanh(z/2)) / 2: the same band as tanh's |tanh| < 0.95
    return Activation("sigmoid", torch.sigmoid, "xavier", 0.5, (0.025, 0.975), "000, 001")


def _tanh(_: float) -> Activation:
    return Activation("tanh", torch.tanh, "xavier", 0.0, (-TANH_BAND, TANH_BAND), "003, 004")


def _leaky_relu(slope: float) -> Activation:
    # the negative side keeps its magnitude (scaled): no combined system; ReLU-family band
    return Activation("leaky_relu", lambda z: F.leaky_relu(z, slope), "he", 0.0,
                      (0.0, math.inf), "003")


def _rescaled_sigmoid(_: float) -> Activation:
    # 4 sigmoid(z) - 2 = 2 tanh(z/2): tanh's band, scaled by 2
    return Activation("rescaled_sigmoid", lambda z: 4 * torch.sigmoid(z) - 2, "xavier", 0.0,
                      (-1.9, 1.9), "003")


def _leaky_tanh(factor: float) -> Activation:
    # tanh for z >= 0, factor * tanh(z) below: tanh's band on each side, scaled below 0
    def fn(z: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(z)
        return torch.where(z >= 0, t, factor * t)

    return Activation("leaky_tanh", fn, "xavier", 0.0, (-factor * TANH_BAND, TANH_BAND), "003")


def prelu(z: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    """z, or ``slope * z`` below 0; ``slope`` broadcasts (one per node and seed)."""
    return torch.where(z >= 0, z, slope * z)


def _prelu(initial: float) -> Activation:
    # fn with the initial slope (> 0): on/off (z > 0) and the band need nothing learned; the
    # activation values of a trained network use its learned slopes (see module docstring)
    return Activation("prelu", lambda z: prelu(z, initial), "he", 0.0, (0.0, math.inf),
                      "003 (He et al. 2015)", learned_slope=initial)


def _elu(_: float) -> Activation:
    # alpha = 1: saturates towards -1 for z << 0; on where the output is > 0 (z > 0)
    return Activation("elu", F.elu, "he", 0.0, (-TANH_BAND, math.inf), "modern networks")


def _gelu(_: float) -> Activation:
    # the ReLU family's rule: not saturated where g(z) > 0 (z > 0)
    return Activation("gelu", F.gelu, "he", 0.0, (0.0, math.inf), "modern networks")


def _silu(_: float) -> Activation:
    return Activation("silu", F.silu, "he", 0.0, (0.0, math.inf), "modern networks")


BUILDERS: dict[str, Callable[[float], Activation]] = {
    "relu": _relu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "leaky_relu": _leaky_relu,
    "rescaled_sigmoid": _rescaled_sigmoid,
    "leaky_tanh": _leaky_tanh,
    "prelu": _prelu,
    "elu": _elu,
    "gelu": _gelu,
    "silu": _silu,
}
if set(BUILDERS) != set(ACTIVATIONS):
    raise ImportError("activations.BUILDERS and activation_names.ACTIVATIONS differ: "
                      f"{sorted(set(BUILDERS) ^ set(ACTIVATIONS))}")
REGISTRY: dict[str, Family] = {name: Family(BUILDERS[name], shape)
                               for name, shape in ACTIVATIONS.items()}


def get_activation(name: str, shape: float | None = None) -> Activation:
    """The activation ``name`` with its shape parameter (the registry's default if None)."""
    try:
        family = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(REGISTRY)}") from None
    if shape is None and family.shape is not None:
        shape = family.shape.default
    return family.build(shape)
