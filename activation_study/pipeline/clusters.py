"""The Dask clusters the parallel runner uses: this machine's GPUs or cores, or Slurm jobs.

Every worker runs one stage at a time (one thread). What a stage process sees:

- on this machine, worker k of n: GPU ``k mod GPUs`` alone (``CUDA_VISIBLE_DEVICES``), and
  ``cores // n`` CPU threads, so that the workers together do not oversubscribe the cores;
- on Slurm, one job per worker: the GPUs Slurm gave the job (Slurm sets
  ``CUDA_VISIBLE_DEVICES``) and the job's cores.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


def gpu_count() -> int:
    """GPUs of this machine, from ``nvidia-smi`` (the scheduler process never imports torch)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def has_dashboard() -> bool:
    """Dask serves its dashboard only when bokeh (the ``dashboard`` extra) is installed."""
    return importlib.util.find_spec("bokeh") is not None


@dataclass(frozen=True)
class StageResources:
    """What each stage process gets: CPU threads and, on this machine, which GPU."""

    threads: int
    gpus: int = 0  # GPUs to share out by worker number; 0: leave CUDA_VISIBLE_DEVICES alone

    def environment(self, worker: int | None) -> dict[str, str]:
        """The variables a stage process of worker number ``worker`` runs with."""
        env = {var: str(self.threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        if self.gpus and worker is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(worker % self.gpus)
        return env


def local_resources(workers: int, gpus: int, cores: int | None = None) -> StageResources:
    cores = cores or os.cpu_count() or 1
    return StageResources(threads=max(1, cores // workers), gpus=gpus)


def local_cluster(workers: int):
    """``workers`` worker processes on this machine, one stage at a time each. No memory
    limit: the stage runs in a child process, which the worker's limit would not see."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        memory_limit=0, dashboard_address=":0")


@dataclass(frozen=True)
class SlurmOptions:
    """One Slurm job per Dask worker; each asks for ``gpus`` GPUs and ``cores`` cores."""

    partition: str | None = None
    account: str | None = None
    walltime: str = "04:00:00"
    memory: str = "16GB"
    cores: int = 4
    gpus: int = 1
    max_jobs: int = 8
    sbatch: tuple[str, ...] = field(default_factory=tuple)  # extra #SBATCH lines, e.g. --qos=x
    interface: str | None = None  # network interface the workers reach the scheduler on

    def directives(self) -> list[str]:
        gres = [f"--gres=gpu:{self.gpus}"] if self.gpus else []
        return gres + list(self.sbatch)


def slurm_cluster(options: SlurmOptions, root: Path):
    """A ``dask_jobqueue.SLURMCluster`` whose workers start in ``root`` (a shared folder)
    with this Python; scale it with ``adapt``. The workers' Slurm logs go to ``logs/slurm``."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=options.partition, account=options.account, walltime=options.walltime,
        memory=options.memory, cores=1, processes=1, job_cpu=options.cores,
        job_extra_directives=options.directives(), job_script_prologue=[f"cd {root}"],
        log_directory=str(root / "logs" / "slurm"), python=sys.executable,
        interface=options.interface,
        scheduler_options={"dashboard_address": ":0"})
