"""Stage validate: check every key of params.yaml before any data is read or model trained.

The whole file is checked against ``activation_study.params.schema``; this stage adds the
checks that need the machine: a ``train.device`` naming CUDA must name a CUDA device present
here, ``train.compile: true`` (CUDA graphs) needs training to land on one (torch is
imported for these checks only), and ``train.cpu_numerics: portable`` needs an x86-64-v3 CPU.

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale. It depends on
the whole of params.yaml (dvc.yaml), and imports nothing the other stages share
(``activation_study.common``): editing the schema reruns this stage alone, and editing the
stages' shared code (atomic writes, the params reader, the stage entry) reruns no validation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from activation_study.numerics import NumericsError, check_machine
from activation_study.params.schema import InvalidParams, check

PARAMS = Path("params.yaml")
MARKER = Path("data/validate/params.ok")


def validate(path: Path = PARAMS) -> None:
    if not path.is_file():
        raise InvalidParams(f"{path}: parameter file not found (run from the repository root)")
    train = check(yaml.safe_load(path.read_text())).train
    check_device(train.device, train.compile)
    check_machine(train.cpu_numerics)  # portable needs an x86-64-v3 CPU


def check_device(device: str, compile_: bool | str) -> None:
    """A ``train.device`` naming CUDA must name a device of this machine, and
    ``train.compile: true`` needs training to land on one (``auto`` picks CUDA when present).
    torch is imported only where CUDA is named or asked for."""
    if not (device.startswith("cuda") or compile_ is True):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device.startswith("cuda") and (torch.device(device).index or 0) >= count:
        have = f"this machine has {count} CUDA device(s)" if count else "CUDA is not available"
        expected = f"cuda:0..cuda:{count - 1}" if count else "auto or cpu"
        raise InvalidParams(f"params.yaml: 'train.device' = {device!r} is not allowed: {have} "
                            f"on this machine; expected {expected}")
    if compile_ is True and (device == "cpu" or count == 0):
        raise InvalidParams(f"params.yaml: 'train.compile' = true is not allowed: CUDA graphs "
                            f"need a CUDA device, and train.device = {device!r} is the CPU on "
                            "this machine; expected false or auto")


def main() -> None:
    try:
        validate()
    except (InvalidParams, NumericsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    # a constant marker: a write cut short fails the stage, and DVC caches nothing of it
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    MARKER.write_text("params.yaml passed validation\n")
    print("params.yaml: ok")


if __name__ == "__main__":
    main()
