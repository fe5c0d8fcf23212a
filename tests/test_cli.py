"""The shared stage entry: errors exit 2 with the key, successful runs log their wall time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_validate(folder: Path, params: dict) -> subprocess.CompletedProcess:
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "stages.validate"], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)


def test_a_finished_stage_logs_its_wall_time(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert run_validate(tmp_path, params).returncode == 0
    log = json.loads((tmp_path / "logs/timing/validate/validate.json").read_text())
    assert log["stage"] == "validate" and 0 <= log["seconds"] < 60
    assert log["finished"].endswith("+00:00")


def test_a_failed_stage_logs_nothing(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["tune"]["rounds"] = 0
    proc = run_validate(tmp_path, params)
    assert proc.returncode == 2 and "tune.rounds" in proc.stderr
    assert not (tmp_path / "logs").exists()


def test_per_configuration_logs_are_named_by_the_command_line_item(tmp_path):
    """train and tune take the network as five flags; the log is named by their values."""
    code = ("import sys; from stages._cli import log_timing; "
            "print(log_timing(1.5, sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "--dataset", "digits", "--depth", "2"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=True)
    path = tmp_path / proc.stdout.strip()
    assert path.parent.parent == tmp_path / "logs/timing"
    assert path.name == "digits-2.json"
    assert json.loads(path.read_text())["seconds"] == 1.5
