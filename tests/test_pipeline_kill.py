"""`dvc repro` killed with SIGKILL at random moments, then run to completion, ends exactly
where an uninterrupted `dvc repro` ends.

Each kill takes down the whole process group (DVC and the stage it runs), as a preempted
cluster job or a closed terminal does, a random delay after a chosen stage started. The kills
are spread over the learning-rate search, training, the analysis stages and the summary. Then, as
`make run` does, `python -m activation_study.pipeline.recover` (DVC writes dvc.lock in place: a kill
during that write truncates it) and `dvc repro` to the end. Afterwards: `dvc status` is
clean, every metric, plot table and figure is byte for byte the uninterrupted run's,
`dvc.lock` is the same (but for the report's hash: it holds wall times), and no temporary
file or checkpoint is left.
"""

import filecmp
import os
import queue
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from activation_study.pipeline.dag import lockfiles, plain_name
from tests.test_pipeline_e2e import BIN, init_project, make_project, sh, tiny_params

pytestmark = pytest.mark.e2e
CONFIG = "digits-relu-d2-w64-bntrue"
# the stage each kill waits for (a random delay after it starts), in pipeline order
KILL_AT = ["tune@", "train@", "extract_activations@", "compute_metrics@", "classify_layers@",
           "summarize"]


def kill_params() -> dict:
    params = tiny_params()
    params["grid"].update(activations=["relu"], depths=[2], widths=[64], batchnorm=[True])
    params["train"].update(epochs=5, checkpoint_every=1)
    params["train"]["lr"]["relu"] = "auto"
    params["tune"].update(grid=[1.0e-2, 1.0e-3], rounds=2, epochs=3, seeds=[0, 1])
    params["plots"]["configs"] = []
    return params


def repro_until_killed(project: Path, stage: str, delay: float) -> bool:
    """Start `dvc repro`; SIGKILL its process group ``delay`` s after ``stage`` starts.
    False when the run ended before that stage started."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None:
                return False
            continue
        if line.startswith("Running stage '") and plain_name(line.split("'")[1]).startswith(stage):
            break
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def result_files(project: Path) -> list[Path]:
    return sorted(p.relative_to(project) for top in ("metrics", "plots", "reports")
                  for p in (project / top).rglob("*") if p.is_file())


def lock_entries(project: Path) -> dict[str, dict]:
    """Every lock file's entries, by file (the report's hash included: with
    report.wall_times off, the report is a function of its inputs)."""
    return {str(path): yaml.safe_load((project / path).read_text())
            for path in lockfiles(project)}


def test_repro_killed_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    rng = random.Random(20261201)
    reference = make_project(tmp_path / "reference", kill_params())
    project = init_project(tmp_path / "killed", kill_params())
    kills = [(stage, round(rng.uniform(0.3, 2.5), 2)) for stage in KILL_AT]
    landed = [(stage, delay) for stage, delay in kills
              if repro_until_killed(project, stage, delay)]
    assert len(landed) >= 5, f"only {landed} of {kills} kills landed"
    # what `make run` does: repair DVC's own files if a kill truncated one, then repro
    recovered = sh("python", "-m", "activation_study.pipeline.recover", cwd=project).stdout
    sh("dvc", "repro", cwd=project)

    assert sh("dvc", "status", "--json", cwd=project).stdout.strip() == "{}"
    files = result_files(reference)
    assert result_files(project) == files
    differ = [str(f) for f in files
              if not filecmp.cmp(reference / f, project / f, shallow=False)]
    assert differ == []
    assert lock_entries(project) == lock_entries(reference)
    debris = [p for p in project.rglob("*") if p.name.endswith(".tmp") and ".git" not in p.parts]
    assert debris == []
    assert not list((project / "checkpoints").rglob("*.pt"))
    print("kills:", landed, recovered or "(DVC's files intact)")
