"""Repair what a killed `dvc repro` can leave broken in DVC's own bookkeeping; delete nothing.

The stages' outputs survive a kill (atomic writes, resume checkpoints), but DVC writes its
own files in place, not atomically (``dvc/utils/serialize/_common.py``: ``open(path, "w+")``
for ``dvc.lock`` and ``pipelines/<kind>/dvc.lock``; ``.dvc/tmp/rwlock`` likewise). A kill
during such a write leaves a truncated file, and every later DVC command fails
(``'./dvc.lock' validation failed``, ``Unable to read RWLock-file``). This command, run while
no DVC process runs in the repository, moves such a file aside, to
``<file>.broken-<UTC time>`` beside it, and says so. It deletes nothing.

What counts as left by a kill, and is moved aside:

- a lock file that does not parse (a YAML error, not UTF-8, not a mapping);
- a lock file that parses but breaks DVC's schema in its last entry alone: DVC writes the file
  top to bottom, so a kill leaves every entry but the last one whole. Cut inside a value, the
  file can still fit the schema: DVC then sees that stage as changed and reruns it, and there
  is nothing to repair;
- ``.dvc/tmp/rwlock`` that does not parse (it only records running stages).

The next `dvc repro` restores every stage that had finished from DVC's run-cache ("Stage ...
is cached - skipping run") and reruns the others, which resume from their checkpoints.

A lock file that parses but breaks the schema elsewhere (an unknown key, every entry changed)
is no kill's work: most likely another DVC release wrote it. It is reported, with a hint, and
kept; the exit status is 2, so that `make run` stops there rather than in DVC's error. With
``--fix`` it is moved aside too, and the next `dvc repro` rebuilds it from the run-cache.

Intact files are left alone. `make run` calls it before `dvc repro`.

    python -m activation_study.pipeline.recover [REPO] [--fix]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from activation_study.pipeline import dvc_internals
from activation_study.pipeline.dag import lockfiles

TRUNCATED, SCHEMA = "truncated", "schema"


@dataclass(frozen=True)
class Finding:
    """A DVC file that needs attention: ``kind`` is `TRUNCATED` (a kill's work) or `SCHEMA`."""

    path: Path
    kind: str
    why: str


def where(path: tuple) -> str:
    """``("stages", "train", "outs", 0)`` -> ``stages.train.outs[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "the top level"


def check_lockfile(path: Path) -> Finding | None:
    """What is wrong with a lock file, or None when it is intact (or absent)."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return Finding(path, TRUNCATED, f"it does not parse: {str(exc).splitlines()[0]}")
    if data is None:
        return Finding(path, TRUNCATED, "it is empty")
    if not isinstance(data, dict):
        return Finding(path, TRUNCATED, "it does not parse as a mapping")
    errors = dvc_internals.lockfile_schema_errors(data)
    if not errors:
        return None
    first = f"{errors[0][1]} at {where(errors[0][0])}"
    if not dvc_internals.lockfile_schema_errors(without_last_entry(data)):
        return Finding(path, TRUNCATED, f"its last entry is cut short: {first}")
    return Finding(path, SCHEMA, first + (f" (and {len(errors) - 1} more)"
                                          if len(errors) > 1 else ""))


def without_last_entry(data: dict) -> dict:
    """The lock file's data without what DVC wrote last: its last stage entry, or a
    ``stages`` key left without a value."""
    stages = data.get("stages")
    if isinstance(stages, dict) and stages:
        return {**data, "stages": dict(list(stages.items())[:-1])}
    if list(data)[-1:] == ["stages"]:
        return {key: value for key, value in data.items() if key != "stages"}
    return data


def check_rwlock(path: Path) -> Finding | None:
    """What is wrong with DVC's record of running stages, or None when intact (or absent)."""
    if not path.is_file():
        return None
    try:
        json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Finding(path, TRUNCATED, f"it does not parse: {exc}")
    return None


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.broken-<UTC time>`` beside it (a new name if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{count}")
    path.rename(target)
    return target


def recover(repo: Path, fix: bool = False) -> tuple[list[str], list[str]]:
    """Move aside the DVC files a kill left broken (and, with ``fix``, lock files that break
    DVC's schema); returns what was done and what was kept for the user, one line each.
    Raises `dvc_internals.RepositoryBusy` if a DVC process holds the repository."""
    version = dvc_internals.dvc_version()
    with dvc_internals.repository_lock(repo):  # fails while any DVC command runs here
        findings = [check_lockfile(repo / path) for path in lockfiles(repo)]
        findings.append(check_rwlock(repo / ".dvc" / "tmp" / "rwlock"))
        done, kept = [], []
        for finding in filter(None, findings):
            name = finding.path.relative_to(repo)
            if finding.kind == TRUNCATED or fix:
                moved = move_aside(finding.path).relative_to(repo)
                cause = "left truncated by a kill" if finding.kind == TRUNCATED else (
                    f"does not fit DVC {version}'s lock-file schema")
                done.append(f"moved {name} aside to {moved}: {cause} ({finding.why})")
            else:
                kept.append(f"{name} does not fit DVC {version}'s lock-file schema "
                            f"({finding.why}); kept. Another DVC release may have written it: "
                            "install the locked environment (make setup), or move it aside "
                            "with `python -m activation_study.pipeline.recover --fix` and let "
                            "`dvc repro` rebuild it from the run-cache")
        return done, kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", default=".", type=Path)
    parser.add_argument("--fix", action="store_true",
                        help="also move aside lock files that parse but break DVC's schema")
    args = parser.parse_args(argv)
    if not (args.repo / ".dvc").is_dir():
        print(f"error: {args.repo}: not a DVC repository (no .dvc/)", file=sys.stderr)
        sys.exit(2)
    try:
        done, kept = recover(args.repo, fix=args.fix)
    except dvc_internals.RepositoryBusy as exc:
        print(f"error: a DVC command is running in {args.repo} ({exc}); run this after it",
              file=sys.stderr)
        sys.exit(2)
    for line in done:
        print(f"recover: {line}; `dvc repro` restores finished stages from the run-cache")
    for line in kept:
        print(f"recover: {line}", file=sys.stderr)
    if kept:
        sys.exit(2)


if __name__ == "__main__":
    main()
