"""The parallel runner (`activation_study.pipeline.parallel`): its parts, and real runs on 2
Dask workers.

End to end, on the tests' tiny study (each test in its own copy of it):
- part of the study taken back to nothing and rerun on 2 local workers, with one worker
  SIGKILLed while it trains: the stage is retried on another worker, and every metric, plot
  table, figure and `dvc.lock` (order included) is byte for byte the sequential `dvc repro`'s
  (the shared ``baseline``; `make test-slurm` runs the whole study from scratch on Slurm);
- a stage that fails stops only the stage after it; the others finish; the run ends non-zero
  naming the stage and its log; once mended, the same command runs only what is left.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from distributed.scheduler import KilledWorker

from activation_study.pipeline.clusters import (
    SlurmOptions,
    StageResources,
    local_resources,
    slurm_cluster,
)
from activation_study.pipeline.dag import Plan, lockfiles
from activation_study.pipeline.parallel import (
    ENDED,
    STARTED,
    Outcome,
    StageFailed,
    StageLogs,
    _failure,
    chain_costs,
    parse_args,
    stage_environment,
    task_key,
)
from tests.test_pipeline_e2e import (
    BIN,
    read_params,
    sh,
    stale_stages,
    write_params,
)
from tests.test_pipeline_kill import lock_entries, result_files

RUNNER = [sys.executable, "-m", "activation_study.pipeline.parallel"]


def runner(project: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(*RUNNER, *args, cwd=project, check=False)


def test_waves_put_each_stage_after_the_stages_it_needs():
    plan = Plan({"split@a": frozenset(), "train@a-1": frozenset({"split@a"}),
                 "train@a-2": frozenset({"split@a"}), "train@b-1": frozenset(),
                 "summarize": frozenset({"train@a-1", "train@a-2", "train@b-1"})})
    assert plan.waves() == [["split@a", "train@b-1"], ["train@a-1", "train@a-2"], ["summarize"]]
    assert plan.describe().splitlines() == [
        "5 stages to run, in 3 waves", "  wave 1: 1 split, 1 train", "  wave 2: 2 train",
        "  wave 3: 1 summarize"]


def test_a_configurations_stages_are_one_task_after_the_tasks_they_wait_for():
    plan = Plan({"download@a": frozenset(), "split@a": frozenset({"download@a"}),
                 "tune@a-1": frozenset({"split@a"}),
                 "train@a-1": frozenset({"split@a", "tune@a-1"}),
                 "extract@a-1": frozenset({"train@a-1"}),
                 "tune@a-2": frozenset({"split@a"}),
                 "train@a-2": frozenset({"split@a", "tune@a-2"}),
                 "summarize": frozenset({"extract@a-1", "train@a-2"})})
    chains = plan.tasks()
    assert list(chains) == [("download@a", "split@a"), ("tune@a-1", "train@a-1", "extract@a-1"),
                            ("tune@a-2", "train@a-2"), ("summarize",)]
    assert chains[("tune@a-2", "train@a-2")] == {("download@a", "split@a")}
    assert chains[("summarize",)] == {("tune@a-1", "train@a-1", "extract@a-1"),
                                      ("tune@a-2", "train@a-2")}
    assert plan.tasks(chains=False) == {(name,): frozenset((up,) for up in ups)
                                        for name, ups in plan.upstream.items()}
    # b@x waits for c, which waits for a@x: one task for a@x and b@x would wait for itself
    cycle = Plan({"a@x": frozenset(), "c": frozenset({"a@x"}), "b@x": frozenset({"c"})})
    assert list(cycle.tasks()) == [("a@x",), ("c",), ("b@x",)]


def test_a_chains_output_is_one_log_per_stage(tmp_path):
    events = []
    logs = StageLogs(tmp_path, ("tune@x", "train@x", "extract@x"),
                     lambda topic, name: events.append((topic, name)))
    for line in ["Stage 'tune@x' didn't change, skipping\n", "Running stage 'train@x':\n",
                 "> python -m stages.train\n", "epoch 1\n", "Updating lock file 'dvc.lock'\n",
                 "Running stage 'extract@x':\n", "error: no model\n",
                 "ERROR: failed to reproduce 'extract@x'\n"]:
        logs.line(line)
    logs.close()
    assert events == [(STARTED, "train@x"), (ENDED, "train@x"), (STARTED, "extract@x"),
                      (ENDED, "extract@x")]
    assert logs.last == "extract@x"
    log = tmp_path / "logs/parallel"
    assert sorted(p.name for p in log.iterdir()) == ["extract@x.log", "train@x.log"]
    assert (log / "train@x.log").read_text().splitlines() == [
        "Stage 'tune@x' didn't change, skipping", "Running stage 'train@x':",
        "> python -m stages.train", "epoch 1", "Updating lock file 'dvc.lock'"]
    assert (log / "extract@x.log").read_text().endswith("ERROR: failed to reproduce 'extract@x'\n")
    nothing = StageLogs(tmp_path / "b", ("tune@y", "train@y"))
    nothing.line("ERROR: failed to lock\n")
    nothing.close()
    assert nothing.last == "tune@y"
    assert (tmp_path / "b/logs/parallel/tune@y.log").read_text() == "ERROR: failed to lock\n"


def test_each_worker_sees_one_gpu_and_its_share_of_the_cores():
    resources = local_resources(workers=4, gpus=2, cores=16)
    assert resources.threads == 4
    assert [resources.environment(k)["CUDA_VISIBLE_DEVICES"] for k in range(4)] == \
        ["0", "1", "0", "1"]
    assert resources.environment(3)["OMP_NUM_THREADS"] == "4"
    assert local_resources(workers=3, gpus=0, cores=2).threads == 1
    slurm = StageResources(threads=8)  # Slurm sets the job's CUDA_VISIBLE_DEVICES itself
    assert "CUDA_VISIBLE_DEVICES" not in slurm.environment(None)


def test_stages_run_without_the_environment_dask_set_for_its_workers(monkeypatch):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers, which makes torch's
    training 1.7 times slower; a value the user set themselves stays."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("MY_SETTING", "7")
    env = stage_environment(StageResources(threads=3, gpus=2), worker=1)
    assert "MALLOC_TRIM_THRESHOLD_" not in env and "OPENBLAS_NUM_THREADS" not in env
    assert env["MY_SETTING"] == "7" and env["PATH"] == os.environ["PATH"]
    assert env["OMP_NUM_THREADS"] == "3" and env["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert stage_environment(StageResources(threads=1), None)["MALLOC_TRIM_THRESHOLD_"] == \
        "1000000"


def test_slurm_job_script_carries_the_options(tmp_path):
    options = SlurmOptions(partition="gpu", account="lab", walltime="08:00:00", memory="32GB",
                           cores=6, gpus=1, max_jobs=4, sbatch=("--qos=long",))
    with slurm_cluster(options, tmp_path) as cluster:
        script = cluster.job_script()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH -t 08:00:00",
                 "#SBATCH --cpus-per-task=6", "#SBATCH --gres=gpu:1", "#SBATCH --qos=long",
                 f"cd {tmp_path}", "--nthreads 1"):
        assert line in script, (line, script)


def test_bad_options_are_refused_naming_the_option(capsys):
    for argv, message in ((["--workers", "0"], "--workers must be at least 1, not 0"),
                          (["--retries", "-1"], "--retries must be at least 0, not -1"),
                          (["--slurm", "--max-jobs", "0"], "--max-jobs must be at least 1")):
        with pytest.raises(SystemExit) as exit_:
            parse_args(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_failures_are_told_apart_from_the_stages_they_stopped():
    chain = ("tune@x", "train@x", "extract@x")
    assert task_key(chain) == "chain-x" and task_key(("summarize",)) == "stage-summarize"
    failed = StageFailed("train@x", 1, "logs/parallel/train@x.log")
    assert _failure(chain, "chain-x", failed, set()) == \
        (1, "train@x (dvc repro exit 1): logs/parallel/train@x.log")
    assert _failure(("summarize",), "stage-summarize", failed, set()) is None  # passed on
    killed = KilledWorker("chain-x", None, 2)
    index, why = _failure(chain, "chain-x", killed, {"extract@x"})
    assert index == 2 and why.startswith("extract@x (its worker died 3 times)")
    assert _failure(("summarize",), "stage-summarize", killed, set()) is None
    outcome = Outcome(done=["a"], failed=["b (exit 1): logs/parallel/b.log"], skipped=["c"],
                      starts={"a": 2, "b": 1})
    assert outcome.summary(12.3).splitlines() == [
        "1 stages done, 1 failed, 1 skipped, in 12 s",
        "retried after its worker died: a (2 starts)",
        "failed (their dependents did not run):", "  b (exit 1): logs/parallel/b.log",
        "skipped, after a failed upstream stage: c"]


def test_a_guarded_stage_dies_with_the_process_that_started_it(tmp_path):
    """The stage process (a grandchild) goes when its worker is SIGKILLed."""
    pid_file = tmp_path / "stage.pid"
    stage = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); " \
            "time.sleep(60)"
    worker = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys; subprocess.call([sys.executable, '-m', "
        "'activation_study.pipeline.stage_guard', str(os.getpid()), sys.executable, "
        f"'-c', {stage!r}])")])
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    stage_pid = int(pid_file.read_text())
    assert psutil.pid_exists(stage_pid)
    worker.kill()
    worker.wait()
    psutil.wait_procs([psutil.Process(stage_pid)], timeout=10)
    assert not psutil.pid_exists(stage_pid)


def stage_processes(root: int, module: str) -> list[psutil.Process]:
    """The processes under ``root`` that run ``python -m module``."""
    found = []
    for proc in psutil.Process(root).children(recursive=True):
        try:
            if module in proc.cmdline():
                found.append(proc)
        except psutil.Error:  # ended meanwhile, or a zombie
            pass
    return found


def take_back(project: Path, word: str) -> list[str]:
    """Undo every stage whose name holds ``word``, as if it had never run: its outputs, its
    lock file entry and DVC's run-cache (which would restore instead of rerunning) go."""
    names = []
    for path in lockfiles(project):
        lock = yaml.safe_load((project / path).read_text())
        names += [name for name in lock["stages"] if word in name]
        for name in [name for name in lock["stages"] if word in name]:
            for out in lock["stages"].pop(name).get("outs", []):
                target = project / out["path"]
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        (project / path).write_text(yaml.safe_dump(lock, sort_keys=False))
    shutil.rmtree(project / ".dvc/cache/runs")
    return names


@pytest.mark.e2e
def test_two_workers_one_killed_mid_training_equal_the_sequential_run(baseline, project,
                                                                     tmp_path):
    """The tiny study's 1-layer relu networks (10 stages) rerun from nothing on 2 workers,
    one worker SIGKILLed while it trains: the stage is retried, and every result, and
    dvc.lock with its entries in `dvc repro`'s order, equal the sequential run's (the
    baseline)."""
    undone = take_back(project, "-relu-1-")
    assert len(undone) == 10 and stale_stages(project) >= set(undone)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    output = tmp_path / "runner.out"
    with output.open("w") as out:
        proc = subprocess.Popen([*RUNNER, "--workers", "2", "--retries", "2"], cwd=project,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline, training = time.monotonic() + 600, []
    while not training and proc.poll() is None and time.monotonic() < deadline:
        training = stage_processes(proc.pid, "stages.train")
        time.sleep(0.05)
    assert training, "no training stage started"
    assert "MALLOC_TRIM_THRESHOLD_" not in training[0].environ()  # Dask's, for its workers
    guard = next(p for p in training[0].parents()
                 if "activation_study.pipeline.stage_guard" in p.cmdline())
    guard.parent().kill()  # the Dask worker running this training
    psutil.wait_procs(training[:1], timeout=10)
    assert not training[0].is_running(), "the stage outlived its worker"
    proc.wait(timeout=900)
    out = output.read_text()
    assert proc.returncode == 0, out
    assert "0 failed, 0 skipped" in out, out
    assert "retried after its worker died: pipelines/train/dvc.yaml:train@" in out, out
    assert stale_stages(project) == set()
    files = result_files(baseline)
    assert files == result_files(project)
    differ = [str(f) for f in files if (project / f).read_bytes() != (baseline / f).read_bytes()]
    assert differ == []  # the report too: report.wall_times is off
    assert lock_entries(project) == lock_entries(baseline)
    # `dvc repro` keeps the entries it has in place and appends the new ones in its own order
    for path, lock in lock_entries(baseline).items():
        order = list(lock["stages"])
        assert list(lock_entries(project)[path]["stages"]) == \
            [n for n in order if n not in undone] + [n for n in order if n in undone], path
    assert (project / "logs/parallel/train@digits-relu-1-8-False.log").is_file()


BROKEN = {
    "broken": {"cmd": "python -c \"import sys; sys.exit('broken on purpose')\"",
               "deps": ["data/validate/params.ok"], "outs": ["data/broken/out.txt"]},
    "after_broken": {"cmd": "python -c \"import shutil; shutil.copy('data/broken/out.txt', "
                            "'data/after_broken.txt')\"",
                     "deps": ["data/broken/out.txt"], "outs": ["data/after_broken.txt"]},
}


@pytest.mark.e2e
def test_a_failing_stage_stops_only_its_dependents_and_a_rerun_resumes(project):
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
    pipeline["stages"].update(BROKEN)
    (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    params = read_params(project)
    params["report"]["tolerance"] = 2.0  # only `report` reads it: stale beside the new stages
    write_params(project, params)

    dry = runner(project, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert dry.stdout.splitlines()[-3:] == [
        "3 stages to run, in 2 waves", "  wave 1: 1 broken, 1 report", "  wave 2: 1 after_broken"]
    assert stale_stages(project) == {"broken", "after_broken", "report"}  # nothing ran

    run = runner(project, "--workers", "2")
    assert run.returncode == 1
    log = project / "logs/parallel/broken.log"
    assert "  broken (dvc repro exit 255): logs/parallel/broken.log" in run.stdout, run.stdout
    assert "skipped, after a failed upstream stage: after_broken" in run.stdout
    assert "broken on purpose" in log.read_text()
    assert not (project / "logs/parallel/after_broken.log").exists()
    assert stale_stages(project) == {"broken", "after_broken"}  # report ran

    pipeline["stages"]["broken"]["cmd"] = \
        "python -c \"import os; os.mkdir('data/broken'); open('data/broken/out.txt', 'w')\""
    (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    again = runner(project, "--workers", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 stages done, 0 failed, 0 skipped" in again.stdout
    assert stale_stages(project) == set()


def test_the_costliest_chains_get_the_highest_priority(tmp_path):
    """Longest first: the runner's task priority is the configuration's training FLOPs."""
    shutil.copy(Path(__file__).with_name("tiny_params.yaml"), tmp_path / "params.yaml")
    costs = chain_costs(tmp_path)
    params = read_params(tmp_path)
    grid = params["grid"]
    assert len(costs) == len(grid["datasets"]) * len(grid["activations"]) * \
        len(grid["depths"]) * len(grid["widths"]) * len(grid["batchnorm"])
    dataset, activation, width = grid["datasets"][0], grid["activations"][0], grid["widths"][0]
    shallow, deep = min(grid["depths"]), max(grid["depths"])
    assert costs[f"{dataset}-{activation}-{deep}-{width}-False"] > \
        costs[f"{dataset}-{activation}-{shallow}-{width}-False"] > 0
