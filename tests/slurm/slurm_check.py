"""The tiny study through a real Slurm cluster equals the sequential `dvc repro`.

Run by ``make test-slurm``: `cluster.sh` starts munge, slurmctld and slurmd on this host and
exports ``SLURM_CONF``; this file then runs the parallel runner with ``--slurm`` (one Slurm job
per Dask worker, scaled by ``adapt``) and compares every result with a sequential run's.
Not collected by ``make test`` (its name does not start with ``test_``).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from activation_study.pipeline.dag import lockfiles
from tests.test_pipeline_e2e import init_project, make_project, sh, stale_stages, tiny_params
from tests.test_pipeline_kill import result_files


def small_params() -> dict:
    params = tiny_params()
    params["grid"]["depths"] = [1]
    params["plots"]["configs"] = ["digits-relu-d1-w8-bnfalse"]
    return params


@pytest.fixture(scope="module")
def slurm() -> str:
    if not os.environ.get("SLURM_CONF") or shutil.which("sinfo") is None:
        pytest.fail("no Slurm cluster: run this through tests/slurm/cluster.sh "
                    "(make test-slurm)")
    return sh("sinfo", "-h", "-o", "%N %c %T", cwd=Path(".")).stdout.strip()


def test_the_pipeline_on_slurm_equals_the_sequential_run(slurm, tmp_path):
    print(f"\nSlurm node: {slurm}")
    sequential = make_project(tmp_path / "sequential", small_params())
    project = init_project(tmp_path / "slurm", small_params())
    run = subprocess.run(
        [sys.executable, "-m", "activation_study.pipeline.parallel", "--slurm",
         "--partition", "debug",
         "--cores", "1", "--gpus", "0", "--memory", "2GB", "--walltime", "00:30:00",
         "--max-jobs", "2"], cwd=project, capture_output=True, text=True, timeout=600)
    print(run.stdout[-1500:])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failed, 0 skipped" in run.stdout
    jobs = sorted((project / "logs/slurm").glob("*.err")) + \
        sorted((project / "logs/slurm").glob("*.out"))
    job_ids = {path.stem.rsplit("-", 1)[-1] for path in jobs}
    print(f"Slurm jobs submitted (one Dask worker each): {len(job_ids)}")
    assert job_ids, "no Slurm job ran a worker"
    assert stale_stages(project) == set()
    files = result_files(sequential)
    assert files == result_files(project)
    differ = [str(f) for f in files
              if (project / f).read_bytes() != (sequential / f).read_bytes()]
    assert differ == []  # the report too: report.wall_times is off in the tiny study
    locks = {path: (project / path).read_text() for path in lockfiles(project)}
    assert locks == {path: (sequential / path).read_text() for path in lockfiles(sequential)}
    print(f"equal to the sequential run: {len(files)} result files byte for byte, and the "
          f"{len(locks)} lock files")
