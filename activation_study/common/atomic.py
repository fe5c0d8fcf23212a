"""Atomic writes: an interrupted stage never leaves a half-written file that DVC would accept.

A killed write leaves a ``.NAME.XXXXXXXX.tmp`` sibling, which the next write of that output
removes first; JSON and CSV writers on top, and reading JSON back.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

def stale_temporaries(path: Path) -> list[Path]:
    """The temporary siblings ``atomic_path(path)`` left when its process was killed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``path`` only if the block succeeds.

    Works for files and directories: whatever the block creates at the yielded path
    replaces ``path`` in one rename. Temporary siblings of ``path`` left by a killed run
    are removed first: one output has one writer at a time (DVC locks its stage), and a
    leftover under a directory that another stage depends on would change its hash.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically, keys in insertion order, with a trailing newline."""
    text = json.dumps(obj, indent=2) + "\n"
    write_atomic(path, lambda p: p.write_text(text))


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a table atomically as CSV without the index (6 significant digits)."""
    write_atomic(path, lambda p: frame.to_csv(p, index=False, float_format="%.6g"))


def significant(value: float, digits: int) -> float | None:
    """``value`` to ``digits`` significant digits for JSON (variances can be 1e-7); NaN -> None."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
