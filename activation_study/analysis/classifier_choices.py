"""The options of the layer classifiers that params.yaml chooses (``classify.estimator``,
``classify.prior``). Torch-free and apart from ``layer_classifiers``, so that the parameter
schema reads the names from the analysis that implements them without importing torch."""

from __future__ import annotations

ESTIMATORS = ("binned", "exact")  # binned (grid + FFT) or the exact sum over samples
PRIORS = ("class_frequency", "uniform")  # log prior: training-set class frequencies, or flat
