"""activation_study.pipeline.recover: DVC files a kill left truncated are removed, intact ones kept,
and nothing is touched while a DVC command holds the repository."""

import subprocess
import sys

import pytest
from dvc.lock import make_lock

from activation_study.pipeline.recover import recover

LOCK = """schema: '2.0'
stages:
  validate:
    cmd: python -m stages.validate
    outs:
    - path: data/validate/params.ok
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 30
"""


DVC_YAML = """stages:
  validate:
    cmd: python -m stages.validate
    outs:
    - data/validate/params.ok
"""


def dvc(repo, *args):
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True,
                          text=True)


@pytest.fixture
def repo(tmp_path):
    assert dvc(tmp_path, "init", "--no-scm", "-q").returncode == 0
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    return tmp_path


def test_intact_files_are_left_alone(repo):
    (repo / "dvc.lock").write_text(LOCK)
    (repo / ".dvc/tmp/rwlock").write_text('{"read": {}, "write": {}}')
    assert recover(repo) == []
    assert (repo / "dvc.lock").read_text() == LOCK
    assert (repo / ".dvc/tmp/rwlock").is_file()


@pytest.mark.parametrize("cut", [41, 85, 187])  # inside a key, a path, the last value
def test_lockfile_that_dvc_refuses_is_removed(repo, cut):
    (repo / "dvc.lock").write_text(LOCK[:cut])
    assert "validation failed" in dvc(repo, "status").stderr  # DVC is stuck...
    done = recover(repo)
    assert len(done) == 1 and "dvc.lock" in done[0]
    assert not (repo / "dvc.lock").exists()
    assert dvc(repo, "status").returncode == 0  # ...and no longer


def test_truncation_that_dvc_accepts_is_left_to_dvc(repo):
    """Cut inside a value, the file still fits DVC's schema: DVC sees the stage as changed
    and reruns it, so there is nothing to repair."""
    (repo / "dvc.lock").write_text(LOCK[:63])  # ... cmd: python -m stages.v
    assert recover(repo) == []
    assert "changed command" in dvc(repo, "status").stdout


def test_truncated_rwlock_is_removed(repo):
    (repo / "dvc.lock").write_text(LOCK)
    (repo / ".dvc/tmp/rwlock").write_text('{"read": {"data/x": [{"pid"')
    done = recover(repo)
    assert len(done) == 1 and "rwlock" in done[0]
    assert (repo / "dvc.lock").is_file() and not (repo / ".dvc/tmp/rwlock").exists()


def test_refuses_while_dvc_holds_the_repository(repo):
    (repo / "dvc.lock").write_text(LOCK[:40])
    held = make_lock(str(repo / ".dvc/tmp/lock"), tmp_dir=str(repo / ".dvc/tmp"))
    held.lock()
    try:
        proc = subprocess.run([sys.executable, "-m", "activation_study.pipeline.recover",
                               str(repo)],
                              capture_output=True, text=True)
    finally:
        held.unlock()
    assert proc.returncode != 0 and "a DVC command is running" in proc.stderr
    assert (repo / "dvc.lock").read_text() == LOCK[:40]


def test_a_truncated_lock_file_of_a_stage_kind_is_removed_and_the_others_kept(repo):
    """The per-configuration kinds' lock files (pipelines/<kind>/dvc.lock) are DVC's too."""
    sub = repo / "pipelines/train"
    sub.mkdir(parents=True)
    (sub / "dvc.yaml").write_text(DVC_YAML.replace("validate", "train"))
    (sub / "dvc.lock").write_text(LOCK.replace("validate", "train")[:85])
    (repo / "dvc.lock").write_text(LOCK)
    assert "validation failed" in dvc(repo, "status").stderr
    done = recover(repo)
    assert len(done) == 1 and "pipelines/train/dvc.lock" in done[0]
    assert not (sub / "dvc.lock").exists() and (repo / "dvc.lock").read_text() == LOCK
    assert dvc(repo, "status").returncode == 0
