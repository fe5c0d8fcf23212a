"""The shared stage entry: errors exit 2 with the key, successful runs log their wall time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from activation_study.common import stage_entry as common

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")


def run_download(folder: Path, params: dict, dataset: str) -> subprocess.CompletedProcess:
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "stages.download", "--dataset", dataset],
                          cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)


def test_a_finished_stage_logs_its_wall_time(tmp_path):
    params = yaml.safe_load(TINY_PARAMS.read_text())
    assert run_download(tmp_path, params, "digits").returncode == 0
    log = json.loads((tmp_path / "logs/timing/download/digits.json").read_text())
    assert log["stage"] == "download@digits" and 0 <= log["seconds"] < 60
    assert log["finished"].endswith("+00:00")


def test_a_failed_stage_logs_nothing(tmp_path):
    params = yaml.safe_load(TINY_PARAMS.read_text())
    proc = run_download(tmp_path, params, "imagenet")
    assert proc.returncode == 2 and "grid.datasets" in proc.stderr
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(("kind", "item", "name", "stage"), [
    ("train", "digits-relu-d2-w8-bnfalse", "digits-relu-d2-w8-bnfalse",
     "train@digits-relu-2-8-False"),
    ("classify_layers", "digits-relu-d2-w8-bntrue", "digits-relu-d2-w8-bntrue",
     "classify_layers@digits-relu-2-8-True"),
    ("plot_activations", "digits-relu-d2-w8-bntrue", "digits-relu-d2-w8-bntrue",
     "plot_activations@digits-relu-d2-w8-bntrue"),
    ("download", "digits", "digits", "download@digits"),
    ("summarize", None, "summarize", "summarize"),
])
def test_logs_are_named_by_configuration_id_and_dvc_stage(tmp_path, monkeypatch, kind, item,
                                                          name, stage):
    """A stage logs under the item its main returned: a configuration id (named by its DVC
    stage), a dataset, or nothing for a stage that runs once."""
    monkeypatch.chdir(tmp_path)
    path = common.log_timing(kind, item, 1.5)
    assert path == Path("logs/timing") / kind / f"{name}.json"
    log = json.loads(path.read_text())
    assert log["stage"] == stage and log["seconds"] == 1.5


@pytest.mark.parametrize(("stage", "argv", "argument"), [
    ("compute_metrics", ["--config", "../../x"], "--config '../../x'"),
    ("compute_metrics", ["--config", "digits-relu-d9-w8-bnfalse"], "--config"),
    ("train", ["--config", "digits-relu-d9-w8-bnfalse"], "--config"),
])
def test_a_configuration_outside_the_grid_exits_2(tmp_path, stage, argv, argument):
    """A stage's configuration must be one of params.yaml's grid: one line naming both."""
    (tmp_path / "params.yaml").write_text(TINY_PARAMS.read_text())
    proc = subprocess.run([sys.executable, "-m", f"stages.{stage}", *argv], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert argument in proc.stderr and "is not a configuration of the grid" in proc.stderr
    assert "depths [1, 2]" in proc.stderr


def test_tune_with_a_fixed_rate_does_not_import_torch(tmp_path):
    """The fixed-rate path of tune@ only passes the rate on: no torch (about 1 s a stage)."""
    params = yaml.safe_load(TINY_PARAMS.read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stages.tune", "--config",
         "digits-relu-d1-w8-bnfalse"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "activation_study.common.stage_entry" in imported  # the trace sees the project's imports
    assert not {name for name in imported if name.split(".")[0] == "torch"}
    assert json.loads((tmp_path / "data/tune/digits-relu-d1-w8-bnfalse/lr.json").read_text()) == {
        "lr": 0.01, "mode": "fixed"}
