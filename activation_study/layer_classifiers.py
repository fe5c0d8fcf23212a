"""Nodes and layers as classifiers (dissertation ch. 6, STUDY.md Analyses item 7).

Every hidden node gives class-conditional likelihoods P(z | c) of its pre-activation z, fitted
on the training set of the model state analysed:

- discrete: from theta (on/off), P(on | c) = fraction of class-c training samples that are on;
- continuous: Gaussian kernel density estimate (bandwidth h) of class-c pre-activations;
- combined (ReLU family): the discrete estimate where the node is off, the density where on.

A layer classifies a sample by argmax over classes of log prior + sum over its nodes of
log P(z_node | c) (naive Bayes). Probabilities and densities below ``floor`` are raised to it.

Densities are computed for every seed, class and node of a block of nodes at once.
``binned``: linear binning of the training values on a per-(seed, node) grid of step
h / ``grid_per_bandwidth``, one Gaussian kernel applied by FFT, and linear interpolation of
the log-density at each evaluated value (relative error ~ (step / h)^2 (u^2 - 1) / 8 at u
bandwidths from the data: under 1e-3 above densities of 1e-10 at the default 96).
``exact``: the direct sum over training samples, for checking.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

ESTIMATORS = ("binned", "exact")
PRIORS = ("class_frequency", "uniform")
CHUNK = 1024
TINY = 1e-300
KERNEL_REACH = 8.0  # bandwidths
NODE_BLOCK = 32


def _log_prior(y_train: np.ndarray, num_classes: int, prior: str) -> torch.Tensor:
    if prior == "uniform":
        return torch.full((num_classes,), -math.log(num_classes), dtype=torch.float64)
    counts = np.bincount(y_train, minlength=num_classes).astype(np.float64)
    return torch.from_numpy(np.log(np.maximum(counts, 1.0) / counts.sum()))


def on_probability(on: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(S, C, W)``: fraction of each class's samples that are on at each node."""
    onehot = torch.nn.functional.one_hot(y, num_classes).to(on.dtype)  # (N, C)
    counts = onehot.sum(dim=0).clamp(min=1)
    return torch.einsum("snw,nc->scw", on, onehot) / counts[None, :, None]


class BinnedKDE:
    """Gaussian KDEs of every (seed, class, node) on a grid of step h / ``grid_per_bandwidth``.

    ``values`` ``(S, N, W)`` with labels ``(N,)`` are the training samples; ``span`` ``(2, S, W)``
    is the range the grid must cover (every value that will be evaluated). The kernel is
    truncated at ``KERNEL_REACH`` bandwidths (exp(-32) ~ 1e-14 of its peak).
    """

    def __init__(self, values: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 bandwidth: float, span: torch.Tensor, grid_per_bandwidth: int) -> None:
        s, n, w = values.shape
        self.lo, self.step = span[0], bandwidth / grid_per_bandwidth
        size = int(math.ceil(float((span[1] - span[0]).max()) / self.step)) + 2
        self.size = size
        position = ((values - self.lo[:, None, :]) / self.step).clamp(0, size - 1)
        left = position.floor().clamp(max=size - 2)
        frac = position - left
        # flat index of (seed, node, class, bin): linear binning, weights 1 - frac and frac
        base = ((torch.arange(s)[:, None, None] * w + torch.arange(w)[None, None, :])
                * num_classes + labels[None, :, None]) * size
        index = (base + left.long()).reshape(-1)
        counts = torch.zeros(s * w * num_classes * size, dtype=torch.float64)
        counts.index_add_(0, index, (1 - frac).reshape(-1).double())
        counts.index_add_(0, index + 1, frac.reshape(-1).double())
        counts = counts.reshape(s, w, num_classes, size)
        # one Gaussian kernel for every curve; linear convolution by FFT
        half = int(math.ceil(KERNEL_REACH * grid_per_bandwidth))
        offsets = torch.arange(-half, half + 1, dtype=torch.float64) / grid_per_bandwidth
        kernel = torch.exp(-0.5 * offsets**2) / (bandwidth * math.sqrt(2 * math.pi))
        length = 1 << (size + 2 * half).bit_length()
        spectrum = torch.fft.rfft(counts, n=length) * torch.fft.rfft(kernel, n=length)
        smoothed = torch.fft.irfft(spectrum, n=length)[..., half:half + size]
        class_counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).double()
        density = smoothed / class_counts[None, None, :, None]  # (S, W, C, G)
        # interpolate log-densities: exact for a single Gaussian tail, so the relative error
        # stays ~ (step / h)^2 / 8 far into the tails (FFT round-off ~1e-16 sets the bottom)
        self.log_density = density.clamp(min=TINY).log()

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """Densities ``(S, M, W, C)`` at ``values`` ``(S, M, W)`` by linear interpolation."""
        position = ((values - self.lo[:, None, :]) / self.step).clamp(0, self.size - 1)
        left = position.floor().clamp(max=self.size - 2).long()
        frac = (position - left).double()[..., None]
        grid = self.log_density.unsqueeze(1).expand(-1, values.shape[1], -1, -1, -1)
        at = torch.gather(grid, 4, left[..., None, None].expand(-1, -1, -1, grid.shape[3], 1))
        after = torch.gather(grid, 4, (left + 1)[..., None, None].expand(-1, -1, -1,
                                                                        grid.shape[3], 1))
        return ((1 - frac) * at[..., 0] + frac * after[..., 0]).exp()


class ExactKDE:
    """The direct sum over training samples (reference for :class:`BinnedKDE`)."""

    def __init__(self, values: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 bandwidth: float) -> None:
        self.values, self.bandwidth = values.double(), bandwidth
        self.onehot = torch.nn.functional.one_hot(labels, num_classes).double()  # (N, C)
        self.counts = self.onehot.sum(dim=0).clamp(min=1)

    def __call__(self, values: torch.Tensor, block: int = 8) -> torch.Tensor:
        """Densities ``(S, M, W, C)``, ``block`` evaluated samples at a time."""
        parts = []
        for start in range(0, values.shape[1], block):
            diff = ((values[:, start:start + block].double()[:, :, None, :]
                     - self.values[:, None, :, :]) / self.bandwidth)
            kernel = torch.exp(-0.5 * diff**2) / (self.bandwidth * math.sqrt(2 * math.pi))
            parts.append(torch.einsum("smnw,nc->smwc", kernel, self.onehot) / self.counts)
        return torch.cat(parts, dim=1)


def layer_accuracies(
    z_train: np.ndarray,
    y_train: np.ndarray,
    evaluations: dict[str, tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    is_on: Callable[[torch.Tensor], torch.Tensor],
    systems: tuple[str, ...],
    bandwidth: float = 0.2,
    floor: float = 1e-10,
    prior: str = "class_frequency",
    estimator: str = "binned",
    grid_per_bandwidth: int = 96,
) -> dict[str, dict[str, np.ndarray]]:
    """Per system and evaluated set, the layer's accuracy (%) per seed, ``(S,)``.

    ``z_*``: pre-activations ``(S, N, W)`` of one layer; ``is_on`` maps pre-activations to the
    boolean theta; ``systems`` from ``discrete``, ``continuous``, ``combined``.
    """
    if estimator not in ESTIMATORS or prior not in PRIORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS} and prior one of {PRIORS}; "
                         f"got {estimator!r}, {prior!r}")
    train = torch.as_tensor(np.asarray(z_train, dtype=np.float32))
    labels = torch.as_tensor(y_train).long()
    sets = {name: (torch.as_tensor(np.asarray(z, dtype=np.float32)), torch.as_tensor(y).long())
            for name, (z, y) in evaluations.items()}
    log_prior = _log_prior(y_train, num_classes, prior)
    scores = {name: {system: log_prior.expand(z.shape[0], z.shape[1], -1).clone()
                     for system in systems} for name, (z, _) in sets.items()}
    for first in range(0, train.shape[2], NODE_BLOCK):  # memory bounded by a block of nodes
        nodes = slice(first, first + NODE_BLOCK)
        block = train[:, :, nodes]
        p_on = on_probability(is_on(block).double(), labels, num_classes).clamp(floor, 1 - floor)
        log_on, log_off = p_on.log(), (1 - p_on).log()  # (S, C, W)
        density = None
        if {"continuous", "combined"} & set(systems):
            if estimator == "exact":
                density = ExactKDE(block, labels, num_classes, bandwidth)
            else:
                everything = [block] + [z[:, :, nodes] for z, _ in sets.values()]
                lo = torch.stack([v.amin(dim=1) for v in everything]).amin(dim=0)
                hi = torch.stack([v.amax(dim=1) for v in everything]).amax(dim=0)
                density = BinnedKDE(block, labels, num_classes, bandwidth,
                                    torch.stack([lo - bandwidth, hi + bandwidth]),
                                    grid_per_bandwidth)
        for name, (z_all, _) in sets.items():
            for start in range(0, z_all.shape[1], CHUNK):
                z = z_all[:, start:start + CHUNK, nodes]
                rows = slice(start, start + CHUNK)
                on = is_on(z).double()  # (S, M, w)
                if "discrete" in systems:
                    scores[name]["discrete"][:, rows] += (
                        torch.einsum("smw,scw->smc", on, log_on)
                        + torch.einsum("smw,scw->smc", 1 - on, log_off))
                if density is None:
                    continue
                log_f = density(z).clamp(min=floor).log()  # (S, M, w, C)
                if "continuous" in systems:
                    scores[name]["continuous"][:, rows] += log_f.sum(dim=2)
                if "combined" in systems:
                    scores[name]["combined"][:, rows] += (
                        torch.einsum("smw,smwc->smc", on, log_f)
                        + torch.einsum("smw,scw->smc", 1 - on, log_off))
    return {system: {name: (100.0 * (scores[name][system].argmax(dim=2) == y[None])
                            .double().mean(dim=1)).numpy()
                     for name, (_, y) in sets.items()}
            for system in systems}
