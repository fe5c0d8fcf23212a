"""Repair what a killed `dvc repro` can leave broken in DVC's own bookkeeping.

The stages' outputs survive a kill (atomic writes, resume checkpoints), but DVC writes its
own files in place, not atomically (``dvc/utils/serialize/_common.py``: ``open(path, "w+")``
for ``dvc.lock`` and ``pipelines/<kind>/dvc.lock``; ``.dvc/tmp/rwlock`` likewise). A kill
during such a write leaves a truncated file, and every later DVC command fails
(``'./dvc.lock' validation failed``, ``Unable to read RWLock-file``). This command, run while
no DVC process runs in the repository, removes such a file:

- a lock file that does not parse or fails DVC's schema: removed. The next `dvc repro`
  restores every stage that had finished from DVC's run-cache ("Stage ... is cached -
  skipping run") and reruns the others, which resume from their checkpoints.
- ``.dvc/tmp/rwlock`` that does not parse: removed (it only records running stages).

Intact files are left alone. `make run` calls it before `dvc repro`.

    python -m activation_study.pipeline.recover [REPO]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from dvc.lock import LockError, make_lock
from dvc.schema import COMPILED_LOCKFILE_SCHEMA
from voluptuous import Invalid  # DVC's schema library

from activation_study.pipeline.dag import lockfiles


def broken_lockfile(path: Path) -> str | None:
    """Why a lock file is unusable, or None when it is intact (or absent)."""
    if not path.is_file():
        return None
    try:
        COMPILED_LOCKFILE_SCHEMA(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, Invalid, UnicodeDecodeError) as exc:
        return str(exc).splitlines()[0]
    return None


def broken_rwlock(path: Path) -> str | None:
    """Why DVC's record of running stages is unusable, or None when intact (or absent)."""
    if not path.is_file():
        return None
    try:
        json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def recover(repo: Path) -> list[str]:
    """Remove DVC files a kill left truncated; returns what was done, one line each.
    Raises ``dvc.lock.LockError`` if a DVC process holds the repository."""
    tmp = repo / ".dvc" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    guard = make_lock(str(tmp / "lock"), tmp_dir=str(tmp))
    guard.lock()  # fails while `dvc repro` (or any DVC command) runs here
    try:
        done = []
        checks = [(repo / path, broken_lockfile(repo / path)) for path in lockfiles(repo)]
        for path, why in (*checks, (tmp / "rwlock", broken_rwlock(tmp / "rwlock"))):
            if why is not None:
                path.unlink()
                done.append(f"removed {path.relative_to(repo)}, left truncated by a kill "
                            f"({why})")
        return done
    finally:
        guard.unlock()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", default=".", type=Path)
    args = parser.parse_args(argv)
    try:
        done = recover(args.repo)
    except LockError as exc:
        sys.exit(f"error: a DVC command is running in {args.repo} ({exc}); run this after it")
    for line in done:
        print(f"recover: {line}; `dvc repro` restores finished stages from the run-cache")


if __name__ == "__main__":
    main()
