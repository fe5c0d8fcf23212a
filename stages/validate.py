"""Stage validate: check every key of params.yaml before any data is read or model trained.

The whole file is checked against ``activation_study.params.schema``; this stage adds the
checks that need the machine: a ``train.device`` naming CUDA must name a CUDA device present
here, ``train.compile: true`` (CUDA graphs) needs training to land on one (torch is
imported for these checks only), and ``train.cpu_numerics: portable`` needs an x86-64-v3 CPU.

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale. It depends on
the whole of params.yaml (dvc.yaml). The schema imports the rules it shares with the other
stages (configuration ids, the batch size, the device) from ``activation_study.common``
rather than copying them: an edit of those reruns validation too, which costs a second and
stales nothing downstream, since its output is a constant marker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from activation_study.common.param_reader import compile_problem, device_problem
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
    ``train.compile: true`` needs training to land on one (``auto`` picks CUDA when present):
    the rules of ``common.param_reader``, with this machine's CUDA devices counted. torch is
    imported only where CUDA is named or asked for."""
    if not (device.startswith("cuda") or compile_ is True):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    problem = device_problem(device, count) or compile_problem(
        compile_, on_cuda=device != "cpu" and count > 0)
    if problem:
        raise InvalidParams(problem)


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
