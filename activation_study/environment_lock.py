"""The locked environment: one lock file per Python, and whether an environment matches it.

``requirements/lock-py3.11.txt`` and ``requirements/lock-py3.12.txt`` pin every package the
project installs, transitively and with hashes, for Linux x86-64 (`make lock` writes them with
uv's ``uv pip compile``; docs/development.md). `make setup` installs exactly the lock of the
Python it runs (``pip install --require-hashes``). With ``CONSTRAINTS=my-torch.txt`` (a GPU
build of torch) it installs the lock without torch (`without`), then torch as that file says.

    python -m activation_study.environment_lock check [--ignore NAME ...]
    python -m activation_study.environment_lock without NAME [NAME ...]

``check`` compares this interpreter's ``pip freeze`` with its Python's lock (exit 0 equal,
1 differ, listing what differs, 2 no lock for this Python); ``without`` prints the lock with
the named packages left out. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements"
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``Jinja2`` -> ``jinja2``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(python: tuple[int, int] = sys.version_info[:2]) -> Path:
    """The lock file of a Python version (``requirements/lock-py3.11.txt``)."""
    return REQUIREMENTS / f"lock-py{python[0]}.{python[1]}.txt"


def entries(text: str) -> list[str]:
    """A lock file's requirements, each with its continuation lines (hashes, comments)."""
    blocks: list[str] = []
    for line in text.splitlines(keepends=True):
        if PINNED.match(line) or not blocks:
            blocks.append(line)
        else:
            blocks[-1] += line
    return blocks


def pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of a lock file or of ``pip freeze`` output."""
    return {canonical(m[1]): m[2] for line in text.splitlines() if (m := PINNED.match(line))}


def without(text: str, names: set[str]) -> str:
    """The lock file's text without the entries of ``names``."""
    drop = {canonical(name) for name in names}
    return "".join(block for block in entries(text)
                   if not ((m := PINNED.match(block)) and canonical(m[1]) in drop))


def differences(locked: dict[str, str], installed: dict[str, str],
                ignore: set[str] = frozenset()) -> list[str]:
    """What differs between a lock and an environment, one line per package."""
    ignore = {canonical(name) for name in ignore}
    lines = []
    for name in sorted((locked.keys() | installed.keys()) - ignore):
        want, have = locked.get(name), installed.get(name)
        if want != have:
            lines.append(f"{name}: locked {want or '(not in the lock)'}, "
                         f"installed {have or '(not installed)'}")
    return lines


def installed_pins() -> dict[str, str]:
    """``pip freeze --all --exclude-editable`` of this interpreter (the project itself, an
    editable install, is no part of the lock)."""
    out = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                         capture_output=True, text=True, check=True).stdout
    return pins(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="compare this environment's pip freeze with the lock")
    check.add_argument("--ignore", nargs="*", default=[], metavar="NAME",
                       help="packages to leave out of the comparison (torch from CONSTRAINTS)")
    drop = sub.add_parser("without", help="print the lock without the named packages")
    drop.add_argument("names", nargs="+", metavar="NAME")
    args = parser.parse_args(argv)
    path = lock_path()
    if not path.is_file():
        locked = ", ".join(sorted(p.stem.removeprefix("lock-py")
                                  for p in REQUIREMENTS.glob("lock-py*.txt")))
        print(f"error: no lock for Python {sys.version_info[0]}.{sys.version_info[1]} "
              f"({path.relative_to(REQUIREMENTS.parent)}); locked: {locked}. "
              "Choose one with PYTHON=python3.11, or write one with make lock", file=sys.stderr)
        return 2
    if args.command == "without":
        sys.stdout.write(without(path.read_text(), set(args.names)))
        return 0
    found = differences(pins(path.read_text()), installed_pins(), set(args.ignore))
    for line in found:
        print(line)
    name = path.relative_to(REQUIREMENTS.parent)
    print(f"{'differs from' if found else 'equals'} {name}"
          + (f" ({len(found)} packages)" if found else ""), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
