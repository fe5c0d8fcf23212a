"""Every use of DVC's private Python API, in one module, each checked against named releases.

DVC promises its command line and ``dvc.api``; the pipeline tools need more than that:

- the parallel runner runs what `dvc repro` would, in its order: DVC's own graph, status and
  planner (`repro_steps`, `stage_graph`, `stale_stages`), and it puts the stages a parallel run
  added to a lock file in `dvc repro`'s order, through DVC's YAML round trip
  (`read_lockfile_for_update`, `dump_lockfile`);
- `recover` checks lock files against DVC's schema (`lockfile_schema_errors`) while it holds
  DVC's repository lock (`repository_lock`);
- `compare` and `reproduce_check` resolve experiment names (`resolve_rev`), collect stage
  targets (`collect`) and list a stage's outputs (`stage_outputs`).

Nothing outside this module imports from ``dvc`` but ``dvc.api``. Each use names the DVC
releases it was checked against (`CHECKED_WITH`); ``tests/test_dvc_internals.py`` checks every
name in `SIGNATURES` against the installed DVC and runs each function on a small repository,
and fails with a message naming what changed. ``pyproject.toml`` bounds DVC to the checked
range: widening it means running that test against the new release and naming it here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHECKED_WITH = ("3.64.0", "3.67.1")  # the oldest and newest DVC release the test passed on

# Each private name used below and the parameters it was called with (DVC 3.64.0 to 3.67.1).
SIGNATURES: dict[str, tuple[str, ...] | None] = {
    "dvc.repo.Repo": ("root_dir", "fs", "rev", "subrepos", "uninitialized", "config", "url",
                      "repo_factory", "scm", "remote", "remote_config", "_wait_for_lock"),
    "dvc.repo.Repo.status": ("self", "targets", "jobs", "cloud", "remote", "all_branches",
                             "with_deps", "all_tags", "all_commits", "recursive",
                             "check_updates"),
    "dvc.repo.reproduce.collect_stages": ("repo", "targets", "recursive", "glob"),
    "dvc.repo.reproduce.get_active_graph": ("graph",),
    "dvc.repo.reproduce.plan_repro": ("graph", "stages", "pipeline", "downstream"),
    "dvc.dvcfile.PROJECT_FILE": None,  # a constant: "dvc.yaml"
    "dvc.utils.serialize.parse_yaml_for_update": ("text", "path"),
    "dvc.utils.serialize._yaml.dumps_yaml": ("d",),
    "dvc.schema.COMPILED_LOCKFILE_SCHEMA": None,  # a voluptuous Schema
    "dvc.lock.make_lock": ("lockfile", "tmp_dir", "friendly", "hardlink_lock", "wait"),
    "dvc.lock.LockError": None,
    "dvc.scm.resolve_rev": ("scm", "rev"),
    "dvc.scm.RevError": None,
    "dvc.exceptions.DvcException": None,
}


def resolve_name(dotted: str) -> Any:
    """The object a dotted name of `SIGNATURES` names (``dvc.repo.Repo.status``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def dvc_version() -> str:
    """The installed DVC's version."""
    from dvc import __version__

    return __version__


def signature_problems() -> list[str]:
    """What the installed DVC lacks or has changed among `SIGNATURES`, one line each."""
    __version__ = dvc_version()
    problems = []
    for dotted, expected in SIGNATURES.items():
        try:
            found = resolve_name(dotted)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{dotted}: missing in DVC {__version__} ({exc})")
            continue
        if expected is None:
            continue
        params = tuple(inspect.signature(found).parameters)
        if params[:len(expected)] != expected:
            problems.append(f"{dotted}: parameters {params} in DVC {__version__}, "
                            f"expected {expected}")
    return problems


# --- the repository and its graph ---------------------------------------------------------

def open_repo(root: Path | str):
    """DVC's repository object (``dvc.repo.Repo``), a context manager."""
    from dvc.repo import Repo

    return Repo(str(root))


def held(repo):
    """The lock of an open repository, a context manager: no other DVC command runs here
    while it is held."""
    return repo.lock


def stage_graph(repo):
    """DVC's stage graph: an edge points from a stage to a stage it depends on."""
    return repo.index.graph


def stale_stages(repo) -> list[str]:
    """The addresses of the stages `dvc status` reports as changed."""
    return list(repo.status())


def repro_steps(repo) -> list:
    """Every stage in the order a sequential `dvc repro` visits them (DVC's own planner)."""
    from dvc.dvcfile import PROJECT_FILE
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    graph = get_active_graph(repo.index.graph)
    return plan_repro(graph, collect_stages(repo, [PROJECT_FILE]))


def collect(repo, target: str) -> list:
    """The stages a `dvc repro` target names (DVC's exception when it names none it knows)."""
    return repo.stage.collect(target)


def stage_outputs(repo, wanted: set[str]) -> list[str]:
    """The absolute paths of the outputs of the stages whose addresses are in ``wanted``."""
    return [out.fs_path for stage in repo.index.stages if stage.addressing in wanted
            for out in stage.outs]


def resolve_rev(root: Path | str, rev: str) -> str:
    """The commit a git revision or DVC experiment name stands for (`RevError` if none)."""
    from dvc.scm import resolve_rev as dvc_resolve_rev

    with open_repo(root) as repo:
        return dvc_resolve_rev(repo.scm, rev)


def dvc_exception() -> type[Exception]:
    """DVC's base exception, for ``except`` (imported when needed: DVC loads slowly)."""
    from dvc.exceptions import DvcException

    return DvcException


def rev_error() -> type[Exception]:
    """DVC's unknown-revision error (a ``dvc_exception``), for ``except``."""
    from dvc.scm import RevError

    return RevError


# --- lock files -------------------------------------------------------------------------------

def read_lockfile_for_update(path: Path) -> Any:
    """A lock file as DVC reads one it will rewrite (ruamel's round trip: order, style kept)."""
    from dvc.utils.serialize import parse_yaml_for_update

    return parse_yaml_for_update(path.read_text(), str(path))


def dump_lockfile(data: Any) -> str:
    """The text DVC writes for a lock file's data."""
    from dvc.utils.serialize._yaml import dumps_yaml

    return dumps_yaml(data)


def lockfile_schema_errors(data: Any) -> list[tuple[tuple, str]]:
    """Where parsed lock-file data breaks the installed DVC's lock-file schema: each error's
    path (``("stages", "train", "outs", 0, "md5")``) and message; none when it conforms."""
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA
    from voluptuous import Invalid, MultipleInvalid

    try:
        COMPILED_LOCKFILE_SCHEMA(data)
    except MultipleInvalid as exc:
        return [(tuple(error.path), error.msg) for error in exc.errors]
    except Invalid as exc:
        return [(tuple(exc.path), exc.msg)]
    return []


@contextmanager
def repository_lock(root: Path) -> Iterator[None]:
    """Hold DVC's repository lock (``.dvc/tmp/lock``); `RepositoryBusy` while a DVC command
    holds it."""
    from dvc.lock import LockError, make_lock

    tmp = root / ".dvc" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    guard = make_lock(str(tmp / "lock"), tmp_dir=str(tmp))
    try:
        guard.lock()
    except LockError as exc:
        raise RepositoryBusy(str(exc)) from None
    try:
        yield
    finally:
        guard.unlock()


class RepositoryBusy(Exception):
    """A DVC command holds the repository's lock."""
