"""The torch device of ``train.device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or
``cuda:N``, refused with a ParamError when the machine has no such device."""

from __future__ import annotations

import os

import torch

from activation_study.errors import ParamError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be a device present here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ParamError(f"params.yaml: 'train.device' = {name!r} is not allowed: CUDA is not "
                         "available on this machine; expected auto or cpu")
    count = torch.cuda.device_count()
    if (device.index or 0) >= count:
        raise ParamError(f"params.yaml: 'train.device' = {name!r} is not allowed: this "
                         f"machine has {count} CUDA device(s); expected cuda:0..cuda:{count - 1}")
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
