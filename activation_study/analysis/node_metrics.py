"""Node-level analyses of one hidden layer (dissertation ch. 4-5, seeds 002-004).

Every function takes arrays shaped ``(S, N, W)`` = (seeds, samples, nodes) and labels ``(N,)``
shared by all seeds, and is vectorised over seeds, samples, nodes and classes. Inputs may be
float16; computations run in float32 (medians exactly, sums in float64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _padded_by_class(values: np.ndarray, labels: np.ndarray,
                     num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(S, C, n_max, W)`` with each class's samples, NaN-padded, and the class counts."""
    counts = np.bincount(labels, minlength=num_classes)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(max(int(counts.max()), 1))
    valid = slot[None, :] < counts[:, None]
    index = order[np.minimum(starts[:, None] + slot[None, :], len(order) - 1)]
    padded = np.asarray(values, dtype=np.float32)[:, index, :]
    padded[:, ~valid, :] = np.nan
    return padded, counts


def class_medians_stds(values: np.ndarray, labels: np.ndarray,
                       num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, class and node: median and population std (ddof=0) of the class's values.

    ``(S, C, W)`` each; a class without samples gives NaN.
    """
    padded, counts = _padded_by_class(values, labels, num_classes)
    ordered = np.sort(padded, axis=2)  # NaN padding sorts last
    s, c, _, w = ordered.shape
    lo = np.broadcast_to(np.maximum((counts - 1) // 2, 0)[None, :, None, None], (s, c, 1, w))
    hi = np.broadcast_to((counts // 2)[None, :, None, None], (s, c, 1, w))
    hi = np.minimum(hi, ordered.shape[2] - 1)
    median = 0.5 * (np.take_along_axis(ordered, lo, 2) + np.take_along_axis(ordered, hi, 2))
    median = median[:, :, 0, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(padded, axis=2, dtype=np.float64) / counts[None, :, None]
        sq = np.nansum(np.square(padded, dtype=np.float64), axis=2) / counts[None, :, None]
        std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    empty = counts == 0
    median[:, empty, :] = np.nan
    std[:, empty, :] = np.nan
    return median, std.astype(np.float32)


def class_median_spread(medians: np.ndarray) -> np.ndarray:
    """``(S,)``: std over classes of a node's class medians, averaged over the layer's nodes.

    Measures how far apart the classes sit at a node (Fig. 4.3-4.5 of 001): near 0 when the
    class medians collapse onto each other, as in deep layers of an untrained sigmoid network.
    """
    return np.nanmean(np.nanstd(medians, axis=1), axis=-1)


def is_on(activations: np.ndarray, threshold: float) -> np.ndarray:
    """theta = 1 where the activation is strictly above the threshold (ch. 5)."""
    return np.asarray(activations) > threshold


def node_activity(on: np.ndarray, labels: np.ndarray,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of each class's samples (``(S, C, W)``) and of all samples (``(S, W)``) on."""
    onehot = np.eye(num_classes, dtype=np.float32)[labels]  # (N, C)
    per_class_on = np.einsum("snw,nc->scw", on.astype(np.float32), onehot)
    counts = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = per_class_on / counts[None, :, None]
    return per_class, on.mean(axis=1)


def dead_nodes(on: np.ndarray) -> np.ndarray:
    """``(S, W)``: nodes off for every sample of the set."""
    return ~on.any(axis=1)


def dead_percentage(on: np.ndarray) -> np.ndarray:
    """``(S,)``: percentage of the layer's nodes that are dead (Table 5.1 of 001)."""
    return 100.0 * dead_nodes(on).mean(axis=1)


def layer_sparsity(on: np.ndarray) -> np.ndarray:
    """``(S,)``, %: per live node the fraction of samples off, averaged over live nodes.

    Dead nodes are excluded (Table 1 of 000, Table 5.2 of 001); NaN if every node is dead.
    """
    off_fraction = 1.0 - on.mean(axis=1)  # (S, W)
    live = ~dead_nodes(on)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (off_fraction * live).sum(axis=1) / live.sum(axis=1)


def activation_probability(activations: np.ndarray, low: float, high: float) -> np.ndarray:
    """``(S, W)``: fraction of samples for which a unit is not saturated, low < a < high."""
    a = np.asarray(activations)
    return ((a > low) & (a < high)).mean(axis=1)


def lifetime_sparsity(prob: np.ndarray) -> np.ndarray:
    """``(S,)``: mean activation probability of the layer's units (seed 004)."""
    return prob.mean(axis=-1)


def dispersion(prob: np.ndarray) -> np.ndarray:
    """``(S,)``: population std of the activation probabilities (seed 004's worked example)."""
    return prob.std(axis=-1)


def saturation_fraction(activations: np.ndarray, low: float, high: float) -> np.ndarray:
    """``(S,)``: fraction of sample-node pairs outside the band = 1 - mean activation prob."""
    return 1.0 - activation_probability(activations, low, high).mean(axis=-1)


def epochs_to_target(history_acc: np.ndarray, target: float) -> np.ndarray:
    """``(S,)``: first epoch (column; 0 = initialisation) with accuracy >= target, -1 if never."""
    reached = np.asarray(history_acc) >= target
    return np.where(reached.any(axis=1), reached.argmax(axis=1), -1)


def layer_summary(pre: np.ndarray, labels: np.ndarray, num_classes: int,
                  fn: Callable[[np.ndarray], np.ndarray], threshold: float, low: float,
                  high: float, switch_on_preactivation: bool = False) -> dict[str, np.ndarray]:
    """Every analysis of one layer from its pre-activations ``(S, N, W)``.

    On/off and the band are tested on the activations, or on the pre-activations when
    ``switch_on_preactivation`` (PReLU, whose learned slope may turn negative).
    """
    pre = np.asarray(pre, dtype=np.float32)
    act = fn(pre)
    switch = pre if switch_on_preactivation else act
    on = is_on(switch, threshold)
    pre_median, pre_std = class_medians_stds(pre, labels, num_classes)
    act_median, act_std = class_medians_stds(act, labels, num_classes)
    per_class, overall = node_activity(on, labels, num_classes)
    prob = activation_probability(switch, low, high)
    return {
        "pre_median": pre_median, "pre_std": pre_std,
        "act_median": act_median, "act_std": act_std,
        "class_median_spread": class_median_spread(act_median),
        "activity_per_class": per_class, "activity": overall,
        "dead": dead_nodes(on), "dead_pct": dead_percentage(on),
        "sparsity_pct": layer_sparsity(on),
        "activation_probability": prob,
        "lifetime_sparsity": lifetime_sparsity(prob), "dispersion": dispersion(prob),
        "saturation": 1.0 - prob.mean(axis=-1),
    }
