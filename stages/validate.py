"""Stage validate: check every key of params.yaml before any data is read or model trained.

``load_params`` validates the whole file (``activation_study.params.schema``); this stage adds
the checks that need the machine: a ``train.device`` naming CUDA must name a CUDA device
present here, and ``train.compile: true`` (CUDA graphs) needs training to land on one (torch
is imported for these checks only).

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale.
"""

from __future__ import annotations

from pathlib import Path

from activation_study.errors import ParamError
from activation_study.io import write_atomic
from activation_study.params.validated import load_params
from stages._cli import run

MARKER = Path("data/validate/params.ok")


def main() -> None:
    train = load_params()["train"]  # the whole file is valid
    # torch and the machine: needed only where CUDA is named or asked for
    if train["device"].startswith("cuda") or train["compile"] is True:
        from activation_study.device import resolve_device

        if resolve_device(train["device"]).type != "cuda":
            raise ParamError(f"params.yaml: 'train.compile' = true is not allowed: CUDA graphs "
                             f"need a CUDA device, and train.device = {train['device']!r} is "
                             "the CPU on this machine; expected false or auto")
    write_atomic(MARKER, lambda p: p.write_text("params.yaml passed validation\n"))
    print("params.yaml: ok")


if __name__ == "__main__":
    run(main)
