"""Mean and standard error over seeds, the way the dissertation reports them."""

from __future__ import annotations

import numpy as np

from activation_study.common.atomic import significant


def mean_se(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (std with ddof=1 over sqrt(n)); se is NaN for a single seed."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, values.std(axis=axis, ddof=1) / np.sqrt(n)


def summary(values, digits: int = 4) -> dict[str, float | None]:
    """``{"mean": m, "se": s}`` for JSON metrics (se null for a single seed)."""
    mean, se = mean_se(values)
    return {"mean": round(float(mean), digits),
            "se": None if np.isnan(se) else round(float(se), digits)}


def seed_scalars(values, digits: int = 5) -> dict:
    """``{mean, se, per_seed}`` of one per-seed scalar over the seeds where it is defined.

    NaN (e.g. the sparsity of an all-dead layer) is left out of mean and se, and is null;
    values are rounded to ``digits`` significant digits.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    mean, se = mean_se(finite) if len(finite) else (np.nan, np.nan)
    return {"mean": significant(mean, digits), "se": significant(se, digits),
            "per_seed": [significant(v, digits) for v in values]}
