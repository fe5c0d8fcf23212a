"""Nodes and layers as classifiers (dissertation ch. 6, STUDY.md Analyses item 7).

Every hidden node gives class-conditional likelihoods P(z | c) of its pre-activation z, fitted
on the training set of the model state analysed:

- discrete: from theta (on/off), P(on | c) = fraction of class-c training samples that are on;
- continuous: Gaussian kernel density estimate (bandwidth h) of class-c pre-activations;
- combined (ReLU family): the discrete estimate where the node is off, the density where on.

A layer classifies a sample by argmax over classes of log prior + sum over its nodes of
log P(z_node | c) (naive Bayes). Probabilities and densities below ``floor`` are raised to it.

Densities are computed for every seed, class and node of a block of nodes at once.
``binned``: cubic binning of the training values on a per-(seed, node) grid of step
h / ``grid_per_bandwidth``, one Gaussian kernel applied by FFT, and cubic interpolation of
the density at each evaluated value. Linear binning and interpolation would err by
(step / h)^2 (u^2 - 1) / 8 at u bandwidths from the data, and need ~96 points per bandwidth
for a relative error under 1e-3 above densities of 1e-10; the cubic ones err by O((step / h)^4)
and stay under 1e-4 at the default 24, with a 4x shorter grid.
``exact``: the direct sum over training samples, for checking.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.fft
import torch

from activation_study.analysis.classifier_choices import ESTIMATORS, PRIORS

SYSTEMS = ("discrete", "continuous", "combined")
CHUNK = 1024  # evaluated samples at a time
KERNEL_REACH = 8.0  # bandwidths
MAX_NODE_BLOCK = 256
BLOCK_BYTES = 1 << 28  # working memory of one block of binned densities
EXACT_ELEMENTS = 1 << 22  # kernel terms per step of the exact sum
EXACT_NODES = 16  # nodes per step of the exact sum


def _grid_length(span: float, step: float) -> int:
    """Grid points covering ``span`` (+ 2 guard points)."""
    return int(math.ceil(span / step)) + 2


def _log_prior(y_train: np.ndarray, num_classes: int, prior: str) -> torch.Tensor:
    """``(C,)`` log prior: uniform, or class frequencies of the training set."""
    if prior == "uniform":
        return torch.full((num_classes,), -math.log(num_classes), dtype=torch.float64)
    counts = np.bincount(y_train, minlength=num_classes).astype(np.float64)
    return torch.from_numpy(np.log(np.maximum(counts, 1.0) / counts.sum()))


def on_probability(on: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(S, C, W)``: fraction of each class's samples that are on at each node."""
    onehot = torch.nn.functional.one_hot(y, num_classes).to(on.dtype)  # (N, C)
    counts = onehot.sum(dim=0).clamp(min=1)
    return torch.einsum("snw,nc->scw", on, onehot) / counts[None, :, None]


STENCIL = (-1, 0, 1, 2)  # grid offsets of cubic binning and interpolation around floor(x)


def _lagrange_weights(delta: torch.Tensor) -> list[torch.Tensor]:
    """Cubic Lagrange weights of the ``STENCIL`` points (-1, 0, 1, 2) for a value ``delta`` in
    [0, 1) past point 0: they reproduce polynomials up to degree 3 exactly."""
    after, before, two = delta + 1, delta - 1, delta - 2
    low, high = delta * two, after * before  # shared products
    return [low * before / -6, high * two / 2, low * after / -2, high * delta / 6]


class BinnedKDE:
    """Gaussian KDEs of every (seed, class, node) on a grid of step h / ``grid_per_bandwidth``.

    ``values`` ``(S, N, W)`` with labels ``(N,)`` are the training samples; ``span`` ``(2, S, W)``
    is the range the grid must cover (every value that will be evaluated). Each training
    value is spread over its 4 nearest grid points with cubic Lagrange weights (its moments up
    to the third kept exactly), every class's grid is convolved with one Gaussian kernel
    truncated at ``KERNEL_REACH`` bandwidths (exp(-32) ~ 1e-14 of its peak) by FFT, and
    densities are interpolated cubically. Both steps err by O((step / h)^4).
    """

    def __init__(self, values: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 bandwidth: float, span: torch.Tensor, grid_per_bandwidth: int) -> None:
        s, n, w = values.shape
        device = values.device
        self.step = bandwidth / grid_per_bandwidth
        self.lo = span[0] - self.step  # one guard point below, two above
        size = _grid_length(float((span[1] - span[0]).max()), self.step) + 2
        self.size = size
        left, weights = self._stencil(values)
        curve = (torch.arange(s, device=device)[:, None, None] * w
                 + torch.arange(w, device=device)[None, None, :])  # (S, 1, W): seed and node
        # flat index of (seed, node, class, grid point)
        index = ((curve * num_classes + labels[None, :, None]) * size + left).reshape(-1)
        counts = torch.zeros(s * w * num_classes * size, dtype=torch.float64, device=device)
        for offset, weight in zip(STENCIL, weights, strict=True):
            counts.index_add_(0, index + offset, weight.reshape(-1))
        counts = counts.reshape(s, w, num_classes, size)
        # one Gaussian kernel for every curve; linear convolution by FFT
        half = int(math.ceil(KERNEL_REACH * grid_per_bandwidth))
        offsets = (torch.arange(-half, half + 1, dtype=torch.float64, device=device)
                   / grid_per_bandwidth)
        kernel = torch.exp(-0.5 * offsets**2) / (bandwidth * math.sqrt(2 * math.pi))
        length = scipy.fft.next_fast_len(size + 2 * half, real=True)
        spectrum = torch.fft.rfft(counts, n=length) * torch.fft.rfft(kernel, n=length)
        del counts
        smoothed = torch.fft.irfft(spectrum, n=length)[..., half:half + size]
        del spectrum
        class_counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).double()
        # one row of C class densities per (seed, node, grid point): evaluation reads rows
        # float32 from here: densities above any allowed floor (>= 1e-30) keep 7 digits
        self.grid = (smoothed / class_counts[None, None, :, None]).transpose(2, 3).reshape(
            s * w * size, num_classes).float().contiguous()
        self.rows = curve * size  # first row of each (seed, node)

    def _stencil(self, values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Grid index of floor(position) and the 4 cubic weights, for ``values`` (S, M, W)."""
        position = ((values.double() - self.lo[:, None, :]) / self.step).clamp(1, self.size - 3)
        left = position.floor().clamp(max=self.size - 3)
        return left.long(), _lagrange_weights(position - left)  # float64

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """Densities ``(S, M, W, C)`` at ``values`` ``(S, M, W)`` by cubic interpolation.

        Densities, not log-densities, are interpolated: FFT round-off leaves values of
        ~1e-16 of the peak, of either sign, far from the data, whose logs would make a cubic
        overshoot wildly; on densities that noise stays ~1e-16, far below any useful floor.
        """
        left, weights = self._stencil(values)
        rows = (self.rows + left).reshape(-1)
        result = None
        for offset, weight in zip(STENCIL, weights, strict=True):
            term = self.grid.index_select(0, rows + offset).mul_(weight.reshape(-1, 1).float())
            result = term if result is None else result.add_(term)
        return result.reshape(*values.shape, -1)


class ExactKDE:
    """The direct sum over training samples (reference for :class:`BinnedKDE`)."""

    def __init__(self, values: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 bandwidth: float) -> None:
        self.values = values.double().transpose(1, 2).contiguous()  # (S, W, N)
        self.bandwidth = bandwidth
        onehot = torch.nn.functional.one_hot(labels, num_classes).double()  # (N, C)
        self.weights = onehot / onehot.sum(dim=0).clamp(min=1)  # each class's mean

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """Densities ``(S, M, W, C)``, ``EXACT_NODES`` nodes and as many evaluated samples as
        fit in ``EXACT_ELEMENTS`` kernel terms at a time (a batched matrix product each)."""
        s, w, n = self.values.shape
        block = max(1, EXACT_ELEMENTS // (s * n * min(w, EXACT_NODES)))
        norm = self.bandwidth * math.sqrt(2 * math.pi)
        result = torch.empty(s, values.shape[1], w, self.weights.shape[1], dtype=torch.float64,
                             device=values.device)
        for first in range(0, w, EXACT_NODES):
            nodes = slice(first, first + EXACT_NODES)
            train = self.values[:, nodes, None, :]  # (S, w, 1, N)
            for start in range(0, values.shape[1], block):
                at = values[:, start:start + block, nodes].double().transpose(1, 2)  # (S, w, m)
                kernel = torch.exp(-0.5 * ((at[..., None] - train) / self.bandwidth) ** 2) / norm
                result[:, start:start + block, nodes] = (kernel @ self.weights).transpose(1, 2)
        return result


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
    grid_per_bandwidth: int = 24,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, np.ndarray]]:
    """Per system and evaluated set, the layer's accuracy (%) per seed, ``(S,)``.

    ``z_*``: pre-activations ``(S, N, W)`` of one layer; ``is_on`` maps pre-activations to the
    boolean theta; ``systems`` from ``SYSTEMS``. The discrete system takes every node at once;
    densities are estimated in blocks of nodes of similar value range (the binned grid of a
    block spans its widest node), each bounded by ``BLOCK_BYTES`` of working memory.
    """
    unknown = sorted(set(systems) - set(SYSTEMS))
    if estimator not in ESTIMATORS or prior not in PRIORS or unknown:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, prior one of {PRIORS} and "
                         f"systems from {SYSTEMS}; got {estimator!r}, {prior!r}, {unknown}")
    device = torch.device(device)

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float32), device=device)

    train = tensor(z_train)
    labels = torch.as_tensor(y_train, device=device).long()
    sets = {name: (tensor(z), torch.as_tensor(y, device=device).long())
            for name, (z, y) in evaluations.items()}
    log_prior = _log_prior(y_train, num_classes, prior).to(device)
    scores = {name: {system: log_prior.expand(z.shape[0], z.shape[1], -1).clone()
                     for system in systems} for name, (z, _) in sets.items()}
    everything = [train] + [z for z, _ in sets.values()]
    lo = torch.stack([v.amin(dim=1) for v in everything]).amin(dim=0) - bandwidth  # (S, W)
    hi = torch.stack([v.amax(dim=1) for v in everything]).amax(dim=0) + bandwidth
    p_on = on_probability(is_on(train).double(), labels, num_classes).clamp(floor, 1 - floor)
    log_on, log_off = p_on.log(), (1 - p_on).log()  # (S, C, W)
    if "discrete" in systems:  # every node at once: independent of the density blocks
        for name, (z_all, _) in sets.items():
            for start in range(0, z_all.shape[1], CHUNK):
                on = is_on(z_all[:, start:start + CHUNK]).double()  # (S, M, W)
                scores[name]["discrete"][:, start:start + CHUNK] += (
                    torch.einsum("smw,scw->smc", on, log_on)
                    + torch.einsum("smw,scw->smc", 1 - on, log_off))
    blocks = []
    if {"continuous", "combined"} & set(systems):
        blocks = _node_blocks((hi - lo).amax(dim=0), train.shape[0] * num_classes,
                              bandwidth / grid_per_bandwidth)
    for nodes in blocks:
        block = train[:, :, nodes]
        if estimator == "exact":
            density: ExactKDE | BinnedKDE = ExactKDE(block, labels, num_classes, bandwidth)
        else:
            density = BinnedKDE(block, labels, num_classes, bandwidth,
                                torch.stack([lo[:, nodes], hi[:, nodes]]), grid_per_bandwidth)
        for name, (z_all, _) in sets.items():
            for start in range(0, z_all.shape[1], CHUNK):
                z = z_all[:, start:start + CHUNK][:, :, nodes]
                rows = slice(start, start + CHUNK)
                log_f = density(z).clamp_(min=floor).log_().double()  # (S, M, w, C)
                if "continuous" in systems:
                    scores[name]["continuous"][:, rows] += log_f.sum(dim=2)
                if "combined" in systems:
                    on = is_on(z).double()  # (S, M, w)
                    scores[name]["combined"][:, rows] += (
                        torch.einsum("smw,smwc->smc", on, log_f)
                        + torch.einsum("smw,scw->smc", 1 - on, log_off[:, :, nodes]))
    return {system: {name: (100.0 * (scores[name][system].argmax(dim=2) == y[None])
                            .double().mean(dim=1)).cpu().numpy()
                     for name, (_, y) in sets.items()}
            for system in systems}


def _node_blocks(span: torch.Tensor, curves_per_node: int, step: float) -> list[torch.Tensor]:
    """Node indices in blocks of similar ``span`` (ascending), each within ``BLOCK_BYTES``.

    A binned block costs about 24 bytes per grid point of each of its curves (counts,
    spectrum, smoothed), on a grid as long as the block's widest span.
    """
    order = torch.argsort(span.cpu(), stable=True)
    widths = span.cpu()[order]
    blocks, first = [], 0
    while first < len(order):
        size = min(len(order) - first, MAX_NODE_BLOCK)
        while size > 1 and (24 * curves_per_node * size
                            * _grid_length(float(widths[first + size - 1]), step) > BLOCK_BYTES):
            size //= 2
        blocks.append(order[first:first + size].to(span.device))
        first += size
    return blocks
