"""Run the stale part of the pipeline in parallel on Dask: this machine's GPUs, or Slurm.

DVC has no parallel `repro`, but it runs a stage's command with the repository lock released,
so several ``dvc --wait-for-lock repro -s STAGE...`` in one workspace overlap their commands
and serialise only DVC's bookkeeping. This command takes the stages to run from DVC's own
graph and status (`dag`) and submits one Dask task per configuration: one ``dvc repro`` over
its chain of stages (``tune``, ``train``, ``extract_activations``, ...), so that DVC starts
and reads the pipeline once per configuration, not once per stage (``--tasks stages``: one
task per stage). Each task waits for the tasks of its upstream stages; Dask does the
scheduling, dependencies and retries:

- a failing stage stops the stages after it in its chain and its dependents; the others run
  on, and the run ends non-zero with each failed stage's log (``logs/parallel/<stage>.log``,
  one per stage);
- a worker that dies has its task rerun on another worker (``--retries``): DVC skips the
  stages done, and training resumes from its last checkpoint;
- running the command again picks up where it stopped: DVC skips what is done.

    python -m activation_study.pipeline.parallel --workers 2        # a machine without GPUs
    python -m activation_study.pipeline.parallel --per-gpu 2        # 2 stages on each GPU at a time
    python -m activation_study.pipeline.parallel --slurm --partition gpu --walltime 08:00:00
    python -m activation_study.pipeline.parallel --dry-run          # the stages, by kind, in waves
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from activation_study.pipeline.clusters import (
    SlurmOptions,
    StageResources,
    gpu_count,
    has_dashboard,
    local_cluster,
    local_resources,
    slurm_cluster,
)
from activation_study.pipeline.dag import (
    Plan,
    lockfile_stages,
    order_lockfile,
    plain_name,
    stage_item,
    stage_plan,
)

LOG_DIR = Path("logs/parallel")
STARTED, ENDED = "stage-started", "stage-ended"  # Dask event topics of the tasks
RUNNING = re.compile(r"Running stage '(.+)':")  # DVC's line before a stage's command
SHOW_SKIPPED = 20  # skipped stages named in the summary


class StageFailed(Exception):
    """A stage of a task's `dvc repro` failed (Dask hands this to its dependents too)."""

    def __init__(self, stage: str, returncode: int, log: str):
        super().__init__(stage, returncode, log)
        self.stage, self.returncode, self.log = stage, returncode, log

    def __str__(self) -> str:
        return f"{self.stage} (dvc repro exit {self.returncode}): {self.log}"


def stage_log(name: str) -> Path:
    """The stage's log, relative to the workspace: ``logs/parallel/train@CONFIG.log``."""
    return LOG_DIR / f"{plain_name(name)}.log"


def dvc_command(*args: str) -> list[str]:
    """``dvc ARGS`` with the DVC of this Python's environment when it has one."""
    dvc = Path(sys.executable).with_name("dvc")
    return [str(dvc) if dvc.exists() else "dvc", *args]


class StageLogs:
    """Splits a task's `dvc repro` output into one log per stage, at DVC's "Running stage"
    lines, and tells the runner when each stage starts and ends. What DVC prints before a
    stage runs goes into that stage's log; what is left when none ran, into the first's."""

    def __init__(self, root: Path, stages: tuple[str, ...], event=lambda topic, name: None):
        self.root, self.stages, self.event = root, stages, event
        self.started: list[str] = []
        self.pending: list[str] = []
        self.file = None

    def line(self, text: str) -> None:
        match = RUNNING.match(text.rstrip("\n"))
        if match and match.group(1) in self.stages:
            self._open(match.group(1))
        if self.file is None:
            self.pending.append(text)
        else:
            self.file.write(text)

    def _open(self, name: str) -> None:
        self._close()
        self.started.append(name)
        self.event(STARTED, name)
        self.file = self._path(name).open("w")
        self.file.writelines(self.pending)
        self.pending = []

    def _close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.event(ENDED, self.started[-1])

    def close(self) -> None:
        self._close()
        if self.pending:
            with self._path(self.stages[0]).open("a") as out:
                out.writelines(self.pending)

    def _path(self, name: str) -> Path:
        path = self.root / stage_log(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def last(self) -> str:
        """The stage that ran last (a failure's), else the first (DVC failed before any)."""
        return self.started[-1] if self.started else self.stages[0]


def stage_environment(resources: StageResources, worker: int | None) -> dict[str, str]:
    """The environment of a task's `dvc repro`: the worker's, less what Dask's nanny set for
    the worker process alone (``distributed.nanny.pre-spawn-environ``), plus the threads and
    GPU of ``resources``. The nanny's ``MALLOC_TRIM_THRESHOLD_=65536`` makes glibc return
    freed memory to the kernel at once; torch frees and allocates every step, so a training
    ran 1.7 times slower alone under it, and twice as slow beside another stage
    (benchmarks/README.md, Pipeline overhead)."""
    import dask

    injected = {key: str(value) for key, value in
                (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items()}
    env = {key: value for key, value in os.environ.items() if injected.get(key) != value}
    return {**env, **resources.environment(worker)}


def run_stages(stages: tuple[str, ...], root: str, resources: StageResources,
               *upstream: str) -> tuple[str, ...]:
    """A Dask task: one ``dvc --wait-for-lock repro -s STAGE...`` over ``stages`` (in order)
    in the shared workspace, under `stage_guard` so that it dies with this worker.
    ``upstream`` are the results of the tasks it waits for. Raises `StageFailed` naming the
    stage that failed and its log; the stages after it in ``stages`` did not run."""
    from distributed import get_worker

    worker = get_worker()
    number = worker.name if isinstance(worker.name, int) else None
    logs = StageLogs(Path(root), stages, worker.log_event)
    command = [sys.executable, "-m", "activation_study.pipeline.stage_guard", str(os.getpid()),
               *dvc_command("--wait-for-lock", "repro", "-s", *stages)]
    try:
        with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              env=stage_environment(resources, number)) as proc:
            for text in proc.stdout:
                logs.line(text)
        returncode = proc.returncode
    finally:
        logs.close()
    if returncode != 0:
        raise StageFailed(logs.last, returncode, str(stage_log(logs.last)))
    return stages


@dataclass
class Outcome:
    """How each planned stage ended, and the stages whose worker died under them."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: stage, why, log
    skipped: list[str] = field(default_factory=list)  # an upstream stage failed
    starts: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    @property
    def retried(self) -> dict[str, int]:
        return {name: n for name, n in self.starts.items() if n > 1}

    def summary(self, seconds: float) -> str:
        lines = [f"{len(self.done)} stages done, {len(self.failed)} failed, "
                 f"{len(self.skipped)} skipped, in {seconds:.0f} s"]
        lines += [f"retried after its worker died: {name} ({n} starts)"
                  for name, n in sorted(self.retried.items())]
        if self.failed:
            lines.append("failed (their dependents did not run):")
            lines += [f"  {line}" for line in self.failed]
        if self.skipped:
            shown = ", ".join(self.skipped[:SHOW_SKIPPED])
            more = len(self.skipped) - SHOW_SKIPPED
            lines.append("skipped, after a failed upstream stage: " + shown +
                         (f" and {more} more" if more > 0 else ""))
        return "\n".join(lines)


def _failure(stages: tuple[str, ...], key: str, exc: BaseException,
             running: set[str]) -> tuple[int, str] | None:
    """Where the task over ``stages`` failed: the index of the stage that failed and why;
    None when ``exc`` is an upstream task's failure. ``running``: the stages started and not
    ended, to name the one whose worker died."""
    from distributed.scheduler import KilledWorker

    if isinstance(exc, StageFailed):
        return (stages.index(exc.stage), str(exc)) if exc.stage in stages else None
    if isinstance(exc, KilledWorker):
        if exc.task != key:
            return None
        name = next((name for name in stages if name in running), stages[0])
        return stages.index(name), (f"{name} (its worker died {exc.allowed_failures + 1} "
                                    f"times): {stage_log(name)}")
    return 0, f"{stages[0]} ({type(exc).__name__}: {exc})"


def task_key(stages: tuple[str, ...]) -> str:
    """The Dask key of the task over ``stages``: ``stage-NAME``, or ``chain-ITEM``."""
    if len(stages) == 1:
        return f"stage-{plain_name(stages[0])}"
    return f"chain-{stage_item(stages[0])}"


def chain_costs(root: Path) -> dict[str, float]:
    """The training FLOPs of each configuration (`plan.config_compute`), by the matrix item of
    its stages' names (``mnist5k-relu-4-200-False``). The runner starts the costliest chains
    first, so that the last to finish are short ones (longest processing time first)."""
    from activation_study.common.configs import stage_name
    from activation_study.params.validated import PARAMS_FILE, load_params
    from activation_study.pipeline.plan import plan

    per_config = plan(load_params(root / PARAMS_FILE))["per_config"]
    return {stage_item(stage_name("train", cid)): cost["flops"]
            for cid, cost in per_config.items()}


def run_plan(plan: Plan, client, resources: StageResources, root: Path,
             chains: bool = True, costs: dict[str, float] | None = None) -> Outcome:
    """Submit the plan to ``client``'s cluster, one task per chain of a matrix item's stages
    (``chains``) or per stage, the costliest first (``costs``, by matrix item: Dask runs the
    ready task of highest priority), and follow it to the end with a progress bar of
    stages."""
    from distributed import as_completed
    from tqdm import tqdm

    outcome = Outcome()
    bar = tqdm(total=len(plan.upstream), unit="stage", desc="pipeline", dynamic_ncols=True)
    lock = threading.Lock()

    def show() -> None:
        bar.set_postfix({"running": len(outcome.running), "failed": len(outcome.failed),
                         "skipped": len(outcome.skipped), "left": bar.total - bar.n})

    def started(event: tuple[float, str]) -> None:
        with lock:  # events of one worker arrive in order: its end before its next start
            outcome.starts[event[1]] = outcome.starts.get(event[1], 0) + 1
            outcome.running.add(event[1])
            show()

    def ended(event: tuple[float, str]) -> None:
        with lock:
            outcome.running.discard(event[1])
            show()

    client.subscribe_topic(STARTED, started)
    client.subscribe_topic(ENDED, ended)
    futures = {}
    for stages, upstream in plan.tasks(chains).items():  # upstream tasks come first
        futures[stages] = client.submit(run_stages, stages, str(root), resources,
                                        *[futures[up] for up in sorted(upstream)],
                                        key=task_key(stages), pure=False,
                                        priority=(costs or {}).get(stage_item(stages[0]), 0))
    by_key = {future.key: stages for stages, future in futures.items()}
    for future in as_completed(futures.values()):
        stages = by_key[future.key]
        with lock:
            if future.status == "finished":
                outcome.done += stages
            elif (failure := _failure(stages, future.key, future.exception(),
                                      outcome.running)) is None:
                outcome.skipped += stages
            else:
                k, why = failure
                outcome.done += stages[:k]
                outcome.failed.append(why)
                outcome.skipped += stages[k + 1:]
            outcome.running -= set(stages)  # its worker died: no end event came
            bar.update(len(stages))
            show()
    bar.close()
    client.unsubscribe_topic(STARTED)
    client.unsubscribe_topic(ENDED)
    return outcome


def warn_oversubscription(workers: int, root: Path) -> None:
    """Say so when trainings on this CPU would share cores: each uses ``train.cpu_threads``
    threads whatever the runner does (results depend on the count), and OpenMP threads that
    outnumber the cores spin-wait on each other (measured here: 2 workers x 2 threads on 2
    cores made every training about 8 times slower)."""
    from activation_study.params.validated import PARAMS_FILE, get, load_params

    threads = get(load_params(root / PARAMS_FILE), "train.cpu_threads")
    cores = os.cpu_count() or 1
    if workers * threads > cores:
        print(f"warning: {workers} workers x train.cpu_threads={threads} > {cores} cores: "
              "trainings on this CPU will oversubscribe it; use fewer workers, or "
              "train.cpu_threads: 1", file=sys.stderr)


def validate_first(root: Path) -> None:
    """Bring the `validate` stage up to date before planning. Any edit of params.yaml makes
    it stale, and with it, by the graph, every stage; it writes a constant marker, so once it
    has run only the stages the edit concerns are stale. It also refuses bad parameters
    before any cluster starts. Exits with its message if it fails."""
    proc = subprocess.run(dvc_command("--wait-for-lock", "repro", "-s", "validate"), cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workers", type=int, default=None,
                        help="workers on this machine (default: GPUs x --per-gpu, or 1 "
                             "without GPUs); spread evenly over the GPUs")
    parser.add_argument("--per-gpu", type=int, default=1,
                        help="workers per GPU; more than 1 overlaps small trainings only "
                             "under CUDA MPS (docs/parallel.md)")
    parser.add_argument("--retries", type=int, default=2,
                        help="times a stage is rerun after its worker died (not after the "
                             "stage itself failed)")
    parser.add_argument("--tasks", choices=["chains", "stages"], default="chains",
                        help="one `dvc repro` per chain of a configuration's stages (tune, "
                             "train, extract_activations, ...), or per stage")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the stages that would run, by kind, in waves")
    slurm = parser.add_argument_group("Slurm (--slurm): one job per worker, scaled to the "
                                      "work waiting, up to --max-jobs")
    slurm.add_argument("--slurm", action="store_true", help="run the stages as Slurm jobs")
    slurm.add_argument("--partition", default=SlurmOptions.partition)
    slurm.add_argument("--account", default=SlurmOptions.account)
    slurm.add_argument("--walltime", default=SlurmOptions.walltime, help="per job, HH:MM:SS")
    slurm.add_argument("--memory", default=SlurmOptions.memory, help="per job")
    slurm.add_argument("--cores", type=int, default=SlurmOptions.cores, help="per job")
    slurm.add_argument("--gpus", type=int, default=SlurmOptions.gpus, help="per job (--gres)")
    slurm.add_argument("--max-jobs", type=int, default=SlurmOptions.max_jobs,
                       help="jobs running at once, at most")
    slurm.add_argument("--sbatch", action="append", default=[], metavar="DIRECTIVE",
                       help="an extra #SBATCH line, e.g. --sbatch=--qos=long (repeatable)")
    slurm.add_argument("--interface", default=None,
                       help="network interface the workers reach the scheduler on, e.g. ib0")
    args = parser.parse_args(argv)
    for option in ("workers", "per_gpu", "cores", "max_jobs"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, not {value}")
    for option in ("retries", "gpus"):
        if getattr(args, option) < 0:
            parser.error(f"--{option} must be at least 0, not {getattr(args, option)}")
    return args


def main(argv: list[str] | None = None) -> None:
    import dask
    from distributed import Client

    from activation_study.pipeline.recover import recover

    args = parse_args(argv)
    root = Path(".").resolve()
    for line in recover(root):
        print(line)
    validate_first(root)
    plan = stage_plan(root)
    if args.dry_run or not plan.upstream:
        print(plan.describe() if plan.upstream else "Nothing to run: every stage is up to date.")
        return
    if args.slurm:
        options = SlurmOptions(args.partition, args.account, args.walltime, args.memory,
                               args.cores, args.gpus, args.max_jobs, tuple(args.sbatch),
                               args.interface)
        resources = StageResources(threads=options.cores)
        workers = f"Slurm jobs (cores: {options.cores}, GPUs: {options.gpus} each; up to " \
                  f"{options.max_jobs} at once)"
    else:
        gpus = gpu_count()
        count = args.workers or max(1, gpus) * args.per_gpu
        resources = local_resources(count, gpus)
        if not gpus:
            warn_oversubscription(count, root)
        workers = f"{count} local workers" + (f" on {gpus} GPUs" if gpus else "") + \
                  f" ({resources.threads} CPU threads each)"
    print(f"{len(plan.upstream)} stages to run on {workers}; logs in {LOG_DIR}/")
    before = lockfile_stages(root)
    start = time.perf_counter()
    # worker-saturation 1.0: a worker holds only the stage it runs, none queued behind it
    with dask.config.set({"distributed.scheduler.allowed-failures": args.retries,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = slurm_cluster(options, root) if args.slurm else local_cluster(count)
        with cluster, Client(cluster) as client:
            if args.slurm:
                cluster.adapt(minimum=0, maximum=options.max_jobs)
            if has_dashboard():
                print(f"Dask dashboard: {client.dashboard_link}")
            outcome = run_plan(plan, client, resources, root, args.tasks == "chains",
                               chain_costs(root))
    order_lockfile(before, root)
    print(outcome.summary(time.perf_counter() - start))
    if outcome.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
