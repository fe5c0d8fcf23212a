"""A batch of independent MLPs, one per seed, evaluated together with batched matmuls.

Parameters are stacked along a leading seed axis: hidden weight ``l`` has shape
``(S, fan_in, fan_out)``. Seeds never mix: every operation is per seed (``bmm``; batch norm
normalises each seed's nodes over that seed's own mini-batch), so training the stack is
training S networks side by side.

Architecture (dissertation 3.2.2): without batch norm, ``Linear(bias) -> act`` in the first
hidden layer and ``Linear(no bias) -> act`` in the others; with batch norm
``Linear(no bias) -> BatchNorm(affine) -> act`` in every hidden layer. The output layer is
``Linear(no bias)`` into softmax cross-entropy.

Its activation function is loaded here from its file ``activations/<name>.py``, which
defines (docs/activations.md):

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

Where the network runs is chosen here too: ``train.device`` is ``auto`` (CUDA when present),
``cpu``, ``cuda`` or ``cuda:N``, refused with a ParamError when the machine has no such device.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from activation_study.common.errors import ParamError
from activation_study.common.param_reader import device_problem

# --- The activation functions, one file each ----------------------------------------------

INIT_RULES = ("he", "xavier")
NAME = re.compile(r"[a-z][a-z0-9_]*")
ACTIVATIONS_PACKAGE = "activation_study.activations"
ACTIVATIONS_FOLDER = Path(__file__).resolve().parents[1] / "activations"
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
    folder = ACTIVATIONS_FOLDER
    if not NAME.fullmatch(name) or not (folder / f"{name}.py").is_file():
        known = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
        raise KeyError(f"unknown activation {name!r}: no file {folder / f'{name}.py'}; "
                       f"known: {', '.join(known)}")
    module = importlib.import_module(f"{ACTIVATIONS_PACKAGE}.{name}")
    missing = [field for field in REQUIRED if not hasattr(module, field)]
    if missing:
        raise KeyError(f"{module.__file__}: an activation file must define "
                       f"{', '.join(missing)} (docs/activations.md)")
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


# --- Where the network runs --------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be a device present here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type != "cuda":
        return device
    problem = device_problem(name, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if problem:
        raise ParamError(problem)
    return device


def use_deterministic_algorithms(device: torch.device) -> None:
    """Same inputs, same bits, on CUDA too: cuBLAS with a fixed workspace, and torch's
    deterministic kernels (``index_add_``, which the binned KDE accumulates with, sorts
    instead of using atomics). Must run before the first cuBLAS call of the process."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)


def use_cpu_threads(threads: int) -> None:
    """Compute on CPU with ``train.cpu_threads`` threads, whoever starts the stage.

    The count changes results bitwise: CPU batch norm sums a batch in one chunk per thread,
    and matrix products split their sums by thread count, so a network trained (or its
    activations extracted) on 1 thread and on 2 differ in the last bits. Fixing it as a
    parameter keeps a run equal under `dvc repro` and the parallel runner, and on machines
    with other core counts. threadpoolctl sets numpy's and scipy's BLAS pools alike."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


# --- The network -------------------------------------------------------------------------

NUM_CLASSES = 10
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class ModelSpec:
    input_dim: int
    depth: int
    width: int
    batchnorm: bool
    activation: str
    num_classes: int = NUM_CLASSES
    shape: float | None = None  # the activation's shape parameter (train.shape.<activation>)

    def layer_dims(self) -> list[tuple[int, int]]:
        dims = [self.input_dim] + [self.width] * self.depth + [self.num_classes]
        return list(zip(dims[:-1], dims[1:], strict=True))

    def to_dict(self) -> dict:
        return asdict(self)


def init_std(rule: str, fan_in: int, fan_out: int) -> float:
    """Gaussian He (Kaiming normal, fan_in) or Xavier (Glorot normal) standard deviation."""
    if rule == "he":
        return math.sqrt(2.0 / fan_in)
    return math.sqrt(2.0 / (fan_in + fan_out))


def seed_generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two independent CPU generators derived from one seed: (initialisation, shuffling)."""
    init_seed, shuffle_seed = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return (torch.Generator().manual_seed(int(init_seed)),
            torch.Generator().manual_seed(int(shuffle_seed)))


class BatchedMLP(nn.Module):
    """S independent MLPs with stacked parameters; inputs and outputs carry a seed axis."""

    def __init__(self, spec: ModelSpec, num_models: int) -> None:
        super().__init__()
        self.spec = spec
        self.num_models = num_models
        activation = get_activation(spec.activation, spec.shape)
        self.activation = activation
        s = num_models
        if activation.learned_shape:  # PReLU: a slope per node, layer and seed
            self.slopes = nn.ParameterList(
                nn.Parameter(torch.full((s, spec.width), activation.shape))
                for _ in range(spec.depth))
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(s, fan_in, fan_out)) for fan_in, fan_out in spec.layer_dims()
        )
        if spec.batchnorm:
            self.bn_weight = nn.ParameterList(
                nn.Parameter(torch.ones(s, spec.width)) for _ in range(spec.depth))
            self.bn_bias = nn.ParameterList(
                nn.Parameter(torch.zeros(s, spec.width)) for _ in range(spec.depth))
            for layer in range(spec.depth):
                self.register_buffer(f"running_mean_{layer}", torch.zeros(s, spec.width))
                self.register_buffer(f"running_var_{layer}", torch.ones(s, spec.width))
        else:
            self.bias = nn.Parameter(torch.zeros(s, spec.width))

    def initialise(self, generators: list[torch.Generator]) -> None:
        """Draw each model's weights from its own generator (biases and BN shift stay 0)."""
        rule = self.activation.init
        with torch.no_grad():
            for w, (fan_in, fan_out) in zip(self.weights, self.spec.layer_dims(), strict=True):
                std = init_std(rule, fan_in, fan_out)
                draws = [torch.randn(fan_in, fan_out, generator=g) * std for g in generators]
                w.copy_(torch.stack(draws))

    def activate(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """The activation function of hidden layer ``layer`` on ``z`` (S, B, width)."""
        if hasattr(self, "slopes"):
            return self.activation.apply(z, self.slopes[layer].unsqueeze(1))
        return self.activation.fn(z)

    def _batchnorm(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Per-seed, per-node batch norm via one ``F.batch_norm`` over S*width channels."""
        s, b, w = z.shape
        flat = z.transpose(0, 1).reshape(b, s * w)
        out = F.batch_norm(
            flat,
            getattr(self, f"running_mean_{layer}").view(-1),
            getattr(self, f"running_var_{layer}").view(-1),
            self.bn_weight[layer].reshape(-1),
            self.bn_bias[layer].reshape(-1),
            training=self.training,
            momentum=BN_MOMENTUM,
            eps=BN_EPS,
        )
        return out.reshape(b, s, w).transpose(0, 1)

    @torch.no_grad()
    def calibrate_batchnorm(self, x: torch.Tensor, chunk: int = 8192) -> None:
        """Set every layer's running statistics to the population statistics over ``x``.

        Layer by layer, so each layer's statistics see the earlier layers normalised as eval
        mode will normalise them. Used for the untrained state, whose running statistics are
        still the initial mean 0 / variance 1 (which would make batch norm the identity).
        """
        if not self.spec.batchnorm:
            return
        self.eval()
        hidden = [x[start:start + chunk] for start in range(0, len(x), chunk)]
        for layer in range(self.spec.depth):
            linear = [self._linear(h, layer) for h in hidden]
            total = torch.zeros(2, self.num_models, self.spec.width, dtype=torch.float64,
                                device=x.device)
            for z in linear:
                total[0] += z.double().sum(dim=1)
                total[1] += z.double().square().sum(dim=1)
            mean = total[0] / len(x)
            getattr(self, f"running_mean_{layer}").copy_(mean)
            getattr(self, f"running_var_{layer}").copy_(total[1] / len(x) - mean**2)
            hidden = [self.activate(self._batchnorm(z, layer), layer) for z in linear]

    def _linear(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        w = self.weights[layer]
        if h.dim() == 2:  # one input shared by all models: a single wide matmul
            s, fan_in, fan_out = w.shape
            wide = w.permute(1, 0, 2).reshape(fan_in, s * fan_out)
            return (h @ wide).reshape(len(h), s, fan_out).transpose(0, 1)
        return torch.bmm(h, w)

    def forward(self, x: torch.Tensor, return_preactivations: bool = False):
        """``x``: (S, B, input_dim), or (B, input_dim) shared by all models.

        Returns logits (S, B, classes) and, if asked, the pre-activations of every hidden
        layer (S, B, width): the values fed into the activation function, after batch norm.
        """
        pre: list[torch.Tensor] = []
        h = x
        for layer in range(self.spec.depth):
            z = self._linear(h, layer)
            if layer == 0 and not self.spec.batchnorm:
                z = z + self.bias.unsqueeze(1)
            if self.spec.batchnorm:
                z = self._batchnorm(z, layer)
            if return_preactivations:
                pre.append(z)
            h = self.activate(z, layer)
        logits = torch.matmul(h, self.weights[-1])
        return (logits, pre) if return_preactivations else logits


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (S, B, C) logits against (S, B) labels, as (S, B).

    Flattened to (S*B, C) on purpose: the (N, C, d) form dispatches to nll_loss2d, which has
    no deterministic CUDA kernel.
    """
    s, b, c = logits.shape
    return F.cross_entropy(logits.reshape(s * b, c), labels.reshape(s * b),
                           reduction="none").view(s, b)


def as_inputs(x: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A split's inputs as the network reads them: uint8 pixels scaled to [0, 1], float inputs
    (a dataset of your own) as they are; float32 on ``device``."""
    inputs = torch.as_tensor(x, device=device).float()
    return inputs.div_(255.0) if x.dtype == np.uint8 else inputs


def build_model(spec: ModelSpec, seeds: list[int],
                device: torch.device | str = "cpu") -> BatchedMLP:
    """A freshly initialised stack, model ``k`` drawn from ``seeds[k]``."""
    model = BatchedMLP(spec, len(seeds))
    model.initialise([seed_generators(s)[0] for s in seeds])
    return model.to(device)
