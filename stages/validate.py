"""Stage validate: check every key of params.yaml before any data is read or model trained.

``load_params`` validates the whole file (``activation_study.params_schema``); this stage adds
the one check that needs the machine: a ``train.device`` naming CUDA must name a CUDA device
present here (torch is imported for that check only).

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale.
"""

from __future__ import annotations

from pathlib import Path

from activation_study.io import write_atomic
from activation_study.params import ParamError, load_params
from stages._cli import run

MARKER = Path("data/validate/params.ok")


def check_device(device: str) -> None:
    """``cuda`` or ``cuda:N``: CUDA must be available and device N exist."""
    if not device.startswith("cuda"):
        return
    import torch  # only here: auto and cpu need no torch to validate

    if not torch.cuda.is_available():
        raise ParamError(f"params.yaml: 'train.device' = {device!r} is not allowed: CUDA is not "
                         "available on this machine; expected auto or cpu")
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise ParamError(f"params.yaml: 'train.device' = {device!r} is not allowed: this "
                         f"machine has {count} CUDA device(s); expected cuda:0..cuda:{count - 1}")


def main() -> None:
    check_device(load_params()["train"]["device"])  # the whole file is valid
    write_atomic(MARKER, lambda p: p.write_text("params.yaml passed validation\n"))
    print("params.yaml: ok")


if __name__ == "__main__":
    run(main)
