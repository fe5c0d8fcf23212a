"""The names params.yaml allows where a parameter picks a choice.

Free of pydantic (unlike ``params.schema``, which builds its schema from these), so that the
torch modules can import them on a machine with torch alone: ``benchmarks/gpu_check.py``
runs the engine, extraction and classifiers on a bare GPU machine.
"""

from __future__ import annotations

ESTIMATORS = ("binned", "exact")  # layer_classifiers: binned (grid + FFT) or the exact sum
PRIORS = ("class_frequency", "uniform")
# train.compile: CUDA graphs of the training step; auto = on for CUDA devices, off for CPU
COMPILE_CHOICES = ("auto", True, False)
# train.matmul_precision: torch.set_float32_matmul_precision; high allows TF32 on CUDA
MATMUL_PRECISIONS = ("highest", "high")
