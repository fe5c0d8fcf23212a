"""The torch device of ``train.device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or
``cuda:N``, refused with a ParamError when the machine has no such device."""

from __future__ import annotations

import torch

from activation_study.params import ParamError


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
