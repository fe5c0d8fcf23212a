"""SIGKILL during training or the learning-rate search, then a rerun: the stage resumes from
its checkpoint and writes byte for byte what an uninterrupted run writes.

The stages run as the pipeline runs them (``python -m stages.X`` in a workspace of their own,
with its own params.yaml), without DVC. A kill lands a random fraction of a second after the
running process wrote a checkpoint, so every rerun resumes from a later epoch. (A checkpoint
of other inputs is never resumed from: tests/test_resume.py.)
"""

import filecmp
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
CONFIG = "digits-relu-d3-w128-bntrue"
NETWORK = ["--config", CONFIG]

pytestmark = pytest.mark.e2e


def stage(workspace: Path, name: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"stages.{name}", *argv], cwd=workspace,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err


def write_params(folder: Path, auto_lr: bool) -> None:
    """One bigger-than-tiny network, a checkpoint every epoch; for the search, two rounds."""
    params = yaml.safe_load(TINY_PARAMS.read_text())
    params["grid"].update(depths=[3], widths=[128], activations=["relu"])
    # 30 epochs: an epoch takes tens of ms, and a kill lands up to 0.3 s after a checkpoint
    params["train"].update(epochs=30, checkpoint_every=1, snapshot_epochs=[1, 4], seeds=[0, 1])
    params["tune"].update(grid=[1.0e-2, 1.0e-3], rounds=2, epochs=3, seeds=[0, 1])
    params["plots"]["configs"] = []
    if auto_lr:
        params["train"]["lr"]["relu"] = "auto"
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """The digits split and the tune stage's fixed rate: what the train stage reads."""
    folder = tmp_path_factory.mktemp("prepared")
    write_params(folder, auto_lr=False)
    finish(stage(folder, "download", "--dataset", "digits"))
    finish(stage(folder, "split", "--dataset", "digits"))
    finish(stage(folder, "tune", *NETWORK))
    return folder


def workspace(prepared: Path, folder: Path, auto_lr: bool) -> Path:
    shutil.copytree(prepared, folder)
    write_params(folder, auto_lr)
    return folder


def checkpoint_writes(folder: Path) -> set[tuple[str, int]]:
    """(file, inode) of every checkpoint file: an atomic rewrite gives a new inode."""
    if not folder.is_dir():
        return set()
    return {(p.name, p.stat().st_ino) for p in folder.glob("*.pt")}


def run_with_kills(space: Path, name: str, kills: int, rng: random.Random) -> list[str]:
    """Run stage ``name`` and SIGKILL it ``kills`` times, each a random fraction of a second
    after the process wrote a new checkpoint; then run it to the end. Returns, per kill, the
    last progress its bar showed (``epoch/epochs``)."""
    folder = space / "checkpoints" / name / CONFIG
    progress = []
    for _ in range(kills):
        before = checkpoint_writes(folder)
        proc = stage(space, name, *NETWORK)
        while proc.poll() is None and not checkpoint_writes(folder) - before:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.kill()
        _, err = proc.communicate()
        progress.append(re.findall(r"(\d+/\d+) \[", err)[-1])
    finish(stage(space, name, *NETWORK))
    return progress


def outputs(space: Path, name: str) -> list[Path]:
    return [Path(f"data/{name}/{CONFIG}"), Path(f"metrics/{name}/{CONFIG}.json")] + (
        [Path(f"plots/train/{CONFIG}.csv")] if name == "train" else [])


def assert_same_tree(a: Path, b: Path) -> None:
    if a.is_file():
        assert filecmp.cmp(a, b, shallow=False), f"{b} differs from the uninterrupted run"
        return
    comparison = filecmp.dircmp(a, b)
    assert not comparison.left_only and not comparison.right_only, b
    for name in comparison.common:
        assert_same_tree(a / name, b / name)


def leftovers(space: Path) -> list[Path]:
    return [p for p in space.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["train", "tune"])
def test_killed_stage_resumes_to_the_same_bytes(prepared, tmp_path, name):
    rng = random.Random(f"kill-{name}")
    plain = workspace(prepared, tmp_path / "plain", auto_lr=name == "tune")
    finish(stage(plain, name, *NETWORK))
    killed = workspace(prepared, tmp_path / "killed", auto_lr=name == "tune")
    progress = run_with_kills(killed, name, kills=3, rng=rng)
    assert len(progress) == 3, "the stage finished before it could be killed 3 times"
    for rel in outputs(plain, name):
        assert_same_tree(plain / rel, killed / rel)
    assert not (killed / "checkpoints" / name / CONFIG).exists()  # removed when done
    assert leftovers(killed) == []
    print(f"{name}: killed at {progress}")
