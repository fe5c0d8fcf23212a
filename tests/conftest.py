"""Fixtures shared by the end-to-end tests: tiny studies, each built once per run.

``baseline`` is the tiny study; ``every_activation`` is a variant with every activation file,
in two halves (``half1``, ``half2``). Under pytest-xdist the first worker that needs one builds
it in the run's shared temporary folder while the others wait (a file lock), instead of every
worker building its own. The tests that use them run first (``pytest_collection_modifyitems``):
xdist's work-stealing scheduler gives the first worker the first half of the run, so it builds
them at once while the other worker runs unit tests, and steals the rest once they are built.
"""

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from tests.test_pipeline_e2e import (
    ACTIVATION_HALVES,
    activation_study_params,
    make_project,
    tiny_params,
)

SHARED = ("baseline", "project", "every_activation")


def shared_build(tmp_path_factory: pytest.TempPathFactory, name: str, params: dict) -> Path:
    """``make_project(params)`` once per run, in the folder every xdist worker shares."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder all workers of this run share
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make_project(folder, params)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Path:
    """The tiny study after one `dvc repro`, committed. Tests never edit it: see `project`."""
    return shared_build(tmp_path_factory, "baseline", tiny_params())


@pytest.fixture
def project(baseline, tmp_path) -> Path:
    """This test's own copy of the baseline: git history, DVC cache and outputs included."""
    return Path(shutil.copytree(baseline, tmp_path / "project", symlinks=True))


@pytest.fixture(scope="session", params=("half1", "half2"))
def every_activation(request, tmp_path_factory) -> tuple[Path, list[str]]:
    """Half of the activation files, each on digits 1x8 without batch norm, after one `dvc
    repro`, committed; with the names. Tests that edit it work on a copy."""
    names = ACTIVATION_HALVES[("half1", "half2").index(request.param)]
    return (shared_build(tmp_path_factory, f"every_activation_{request.param}",
                         activation_study_params(names)), names)


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, which keeps its order within
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not set(SHARED) & set(getattr(item, "fixturenames", ())))
