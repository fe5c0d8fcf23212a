"""Mean and standard error over seeds, the way the dissertation reports them."""

from __future__ import annotations

import numpy as np


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
