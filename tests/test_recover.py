"""activation_study.pipeline.recover: DVC files a kill left truncated are moved aside (never
deleted), intact ones kept, lock files another DVC release may have written reported and kept,
and nothing is touched while a DVC command holds the repository."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.lock import make_lock

from activation_study.pipeline.recover import recover

ROOT = Path(__file__).resolve().parents[1]

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


def broken_copies(path):
    return sorted(path.parent.glob(f"{path.name}.broken-*"))


def run_recover(repo, *args):
    return subprocess.run([sys.executable, "-m", "activation_study.pipeline.recover", str(repo),
                           *args], capture_output=True, text=True)


def test_intact_files_are_left_alone(repo):
    (repo / "dvc.lock").write_text(LOCK)
    (repo / ".dvc/tmp/rwlock").write_text('{"read": {}, "write": {}}')
    assert recover(repo) == ([], [])
    assert (repo / "dvc.lock").read_text() == LOCK
    assert (repo / ".dvc/tmp/rwlock").is_file()


def test_the_committed_lock_files_survive(tmp_path):
    """The study's own lock files, as committed, are intact to the installed DVC."""
    files = ["dvc.yaml", "dvc.lock", *(p.relative_to(ROOT).as_posix()
                                       for p in ROOT.glob("pipelines/*/dvc.*"))]
    assert len(files) > 4
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    (tmp_path / ".dvc").mkdir()
    assert recover(tmp_path) == ([], [])
    for name in files:
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), name


# inside a key, a list item, the last value, the stages mapping, a key of the top level
@pytest.mark.parametrize("cut", [41, 85, 187, 30, 20])
def test_lockfile_a_kill_left_truncated_is_moved_aside(repo, cut):
    (repo / "dvc.lock").write_text(LOCK[:cut])
    assert dvc(repo, "status").returncode != 0  # DVC is stuck...
    done, kept = recover(repo)
    assert len(done) == 1 and "moved dvc.lock aside" in done[0] and kept == []
    assert not (repo / "dvc.lock").exists()
    [moved] = broken_copies(repo / "dvc.lock")
    assert moved.read_text() == LOCK[:cut]  # nothing is lost
    assert dvc(repo, "status").returncode == 0  # ...and no longer


def test_truncation_that_dvc_accepts_is_left_to_dvc(repo):
    """Cut inside a value, the file still fits DVC's schema: DVC sees the stage as changed
    and reruns it, so there is nothing to repair."""
    (repo / "dvc.lock").write_text(LOCK[:63])  # ... cmd: python -m stages.v
    assert recover(repo) == ([], [])
    assert "changed command" in dvc(repo, "status").stdout


def test_truncated_rwlock_is_moved_aside(repo):
    (repo / "dvc.lock").write_text(LOCK)
    (repo / ".dvc/tmp/rwlock").write_text('{"read": {"data/x": [{"pid"')
    done, _ = recover(repo)
    assert len(done) == 1 and "rwlock" in done[0]
    assert (repo / "dvc.lock").is_file() and not (repo / ".dvc/tmp/rwlock").exists()
    [moved] = broken_copies(repo / ".dvc/tmp/rwlock")
    assert moved.read_text() == '{"read": {"data/x": [{"pid"'


TWO_STAGES = LOCK + LOCK.split("stages:\n", 1)[1].replace("validate", "second")


@pytest.mark.parametrize("text", [
    LOCK + "written_by: a newer DVC\n",  # an unknown key of the top level, at the end
    TWO_STAGES.replace("    cmd:", "    frozen: false\n    cmd:"),  # every entry changed
], ids=["unknown-top-level-key", "every-entry-changed"])
def test_lockfile_that_breaks_the_schema_elsewhere_is_reported_and_kept(repo, text):
    """Not a kill's work (most likely another DVC release): kept, exit status 2 with a hint;
    --fix moves it aside."""
    (repo / "dvc.lock").write_text(text)
    proc = run_recover(repo)
    assert proc.returncode == 2
    assert "dvc.lock does not fit DVC" in proc.stderr and "kept" in proc.stderr
    assert "--fix" in proc.stderr and "Traceback" not in proc.stderr
    assert (repo / "dvc.lock").read_text() == text and not broken_copies(repo / "dvc.lock")
    fixed = run_recover(repo, "--fix")
    assert fixed.returncode == 0 and "moved dvc.lock aside" in fixed.stdout
    [moved] = broken_copies(repo / "dvc.lock")
    assert moved.read_text() == text


def test_make_run_goes_on_after_a_truncated_lock_file(repo):
    """`make run` calls recover before `dvc repro`: the truncated lock file goes aside and the
    run completes, writing a whole one."""
    (repo / "dvc.yaml").write_text(DVC_YAML.replace(
        "python -m stages.validate", "mkdir -p data/validate && echo ok > data/validate/params.ok"))
    (repo / "dvc.lock").write_text(LOCK[:85])
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(["make", "-f", str(ROOT / "Makefile"), "-o", "setup", "run",
                           f"BIN={bin_dir}"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "moved dvc.lock aside" in proc.stdout
    assert (repo / "data/validate/params.ok").read_text() == "ok\n"
    assert recover(repo) == ([], []) and "validate" in (repo / "dvc.lock").read_text()
    assert len(broken_copies(repo / "dvc.lock")) == 1


def test_refuses_while_dvc_holds_the_repository(repo):
    (repo / "dvc.lock").write_text(LOCK[:40])
    held = make_lock(str(repo / ".dvc/tmp/lock"), tmp_dir=str(repo / ".dvc/tmp"))
    held.lock()
    try:
        proc = run_recover(repo)
    finally:
        held.unlock()
    assert proc.returncode == 2 and "a DVC command is running" in proc.stderr
    assert (repo / "dvc.lock").read_text() == LOCK[:40]


def test_a_truncated_lock_file_of_a_stage_kind_is_moved_aside_and_the_others_kept(repo):
    """The per-configuration kinds' lock files (pipelines/<kind>/dvc.lock) are DVC's too."""
    sub = repo / "pipelines/train"
    sub.mkdir(parents=True)
    (sub / "dvc.yaml").write_text(DVC_YAML.replace("validate", "train"))
    (sub / "dvc.lock").write_text(LOCK.replace("validate", "train")[:85])
    (repo / "dvc.lock").write_text(LOCK)
    assert "validation failed" in dvc(repo, "status").stderr
    done, _ = recover(repo)
    assert len(done) == 1 and "pipelines/train/dvc.lock" in done[0]
    assert not (sub / "dvc.lock").exists() and (repo / "dvc.lock").read_text() == LOCK
    assert len(broken_copies(sub / "dvc.lock")) == 1
    assert dvc(repo, "status").returncode == 0
