"""Stage validate: check every key of params.yaml before any data is read or model trained.

The whole file is checked against ``activation_study.params.schema``; this stage adds the
checks that need the machine: a ``train.device`` naming CUDA must name a CUDA device present
here, and ``train.compile: true`` (CUDA graphs) needs training to land on one (torch is
imported for these checks only).

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale. It depends on
the whole of params.yaml (dvc.yaml), and imports nothing the computing stages import but the
two error classes and the configuration ids, so that editing the schema reruns this stage
alone, and editing the stages' shared code (atomic writes, the params reader, the stage
entry) reruns no validation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from activation_study.errors import ParamError
from activation_study.params.schema import check

PARAMS = Path("params.yaml")
MARKER = Path("data/validate/params.ok")


def validate(path: Path = PARAMS) -> None:
    if not path.is_file():
        raise ParamError(f"{path}: parameter file not found (run from the repository root)")
    train = check(yaml.safe_load(path.read_text())).train
    # torch and the machine: needed only where CUDA is named or asked for
    if train.device.startswith("cuda") or train.compile is True:
        from activation_study.device import resolve_device

        if resolve_device(train.device).type != "cuda":
            raise ParamError(f"params.yaml: 'train.compile' = true is not allowed: CUDA graphs "
                             f"need a CUDA device, and train.device = {train.device!r} is "
                             "the CPU on this machine; expected false or auto")


def main() -> None:
    try:
        validate()
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    # a constant marker: a write cut short fails the stage, and DVC caches nothing of it
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    MARKER.write_text("params.yaml passed validation\n")
    print("params.yaml: ok")


if __name__ == "__main__":
    main()
