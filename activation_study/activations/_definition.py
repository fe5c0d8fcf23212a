"""One activation function, loaded from its file ``activations/<name>.py``.

A file defines (README, "Adding an activation"):

- ``forward(z, shape)``: the function on a tensor of pre-activations; ``shape`` is its shape
  parameter (None when it has none; a tensor that broadcasts when it is learned);
- ``SHAPE``: None, or ``{"name", "default", "range"}`` (a literal: ``validate`` reads it
  without torch), the value coming from ``train.shape.<name>``;
- ``INIT``: ``"he"`` (N(0, 2/fan_in)) or ``"xavier"`` (N(0, 2/(fan_in + fan_out)));
- ``ON_THRESHOLD``: a node is "on" (theta = 1, dissertation ch. 5) where the activation is
  above it;
- ``BAND``: ``(low, high)``, or a function of the shape parameter giving it: the activation
  values that are "not saturated" (seed 004's activation probability);
- ``SOURCE``: where the function comes from;
- optionally ``COMBINED_SYSTEM`` (default False): the layer classifiers' combined system
  applies (dissertation ch. 6: the function discards the magnitude of "off" pre-activations
  and keeps that of "on" ones, as ReLU does);
- optionally ``LEARNED_SHAPE`` (default False): the shape parameter is learned, one per node
  and seed, starting from ``train.shape.<name>`` (PReLU's slopes).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

INIT_RULES = ("he", "xavier")
NAME = re.compile(r"[a-z][a-z0-9_]*")
REQUIRED = ("forward", "INIT", "ON_THRESHOLD", "BAND", "SOURCE")


@dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable[[torch.Tensor, Any], torch.Tensor]  # (z, shape parameter)
    shape: float | None  # the shape parameter this instance computes with
    init: str
    on_threshold: float  # theta = 1 where the activation is > on_threshold
    band: tuple[float, float]  # not saturated where low < activation < high
    source: str
    combined_system: bool = False
    learned_shape: bool = False  # PReLU: the model learns the shape, one per node and seed

    def __post_init__(self) -> None:
        if self.init not in INIT_RULES:
            raise ValueError(f"activation {self.name}: INIT must be one of {INIT_RULES}")

    def fn(self, z: torch.Tensor) -> torch.Tensor:
        """The function with this instance's shape parameter."""
        return self.forward(z, self.shape)

    def apply(self, z: torch.Tensor, shape: torch.Tensor | float) -> torch.Tensor:
        """The function with another shape parameter, e.g. learned slopes that broadcast."""
        return self.forward(z, shape)


def load_definition(name: str) -> Any:
    """The module ``activations/<name>.py``; KeyError naming the known files if absent."""
    folder = Path(__file__).resolve().parent
    if not NAME.fullmatch(name) or not (folder / f"{name}.py").is_file():
        known = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
        raise KeyError(f"unknown activation {name!r}: no file {folder / f'{name}.py'}; "
                       f"known: {', '.join(known)}")
    module = importlib.import_module(f"{__package__}.{name}")
    missing = [field for field in REQUIRED if not hasattr(module, field)]
    if missing:
        raise KeyError(f"{module.__file__}: an activation file must define "
                       f"{', '.join(missing)} (README, Adding an activation)")
    return module


def get_activation(name: str, shape: float | None = None) -> Activation:
    """The activation ``name`` with its shape parameter (the file's default if None)."""
    module = load_definition(name)
    spec = getattr(module, "SHAPE", None)
    if shape is None and spec is not None:
        shape = float(spec["default"])
    band = module.BAND(shape) if callable(module.BAND) else module.BAND
    return Activation(name, module.forward, shape if spec is not None else None, module.INIT,
                      float(module.ON_THRESHOLD), (float(band[0]), float(band[1])),
                      module.SOURCE, bool(getattr(module, "COMBINED_SYSTEM", False)),
                      bool(getattr(module, "LEARNED_SHAPE", False)))
