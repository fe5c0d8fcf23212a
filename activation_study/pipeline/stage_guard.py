"""Run a command as a process group that dies with the process that started it.

A Dask worker runs each stage as ``dvc repro``, which runs the stage's own process. If the
worker is killed (SIGKILL, out of memory), Linux does not kill its children: the stage would
run on, orphaned, beside the retry that Dask starts on another worker. This guard leads a new
process group, asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and
then kills the whole group, `dvc` and the stage included. The retry then finds DVC's lock
entries of dead processes (which DVC discards) and the stage's last checkpoint.

    python -m activation_study.pipeline.stage_guard PARENT_PID CMD [ARGS...]

Exits with the command's status. Without ``prctl`` (not Linux) it only runs the command.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGTERM to this process when ``parent`` exits; exits now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl took effect
        sys.exit(143)


def kill_group(signum: int, frame: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: python -m activation_study.pipeline.stage_guard PARENT_PID CMD [ARGS...]")
    if os.getpgrp() != os.getpid():
        os.setpgrp()
    signal.signal(signal.SIGTERM, kill_group)
    die_with_parent(int(argv[0]))
    sys.exit(subprocess.call(argv[1:]))


if __name__ == "__main__":
    main()
