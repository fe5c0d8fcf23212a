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
from activation_study.params import load_params
from stages._cli import run

MARKER = Path("data/validate/params.ok")


def main() -> None:
    device = load_params()["train"]["device"]  # the whole file is valid
    if device.startswith("cuda"):  # needs torch and the machine: auto and cpu need neither
        from activation_study.device import resolve_device

        resolve_device(device)
    write_atomic(MARKER, lambda p: p.write_text("params.yaml passed validation\n"))
    print("params.yaml: ok")


if __name__ == "__main__":
    run(main)
