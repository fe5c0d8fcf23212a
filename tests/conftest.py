"""Fixtures shared by the end-to-end tests: the tiny study's workspace, built once per run."""

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from tests.test_pipeline_e2e import make_project, tiny_params


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Path:
    """The tiny study after one `dvc repro`, committed. Tests never edit it: see `project`.

    Built once per `pytest` run: under pytest-xdist the first worker that needs it builds it
    in the run's shared temporary folder while the others wait (a file lock), instead of
    every worker building its own."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder all workers of this run share
    folder, done = shared / "baseline", shared / "baseline.done"
    with FileLock(shared / "baseline.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make_project(folder, tiny_params())
            done.touch()
    return folder


@pytest.fixture
def project(baseline, tmp_path) -> Path:
    """This test's own copy of the baseline: git history, DVC cache and outputs included."""
    return Path(shutil.copytree(baseline, tmp_path / "project", symlinks=True))
