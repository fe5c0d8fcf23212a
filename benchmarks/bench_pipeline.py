"""Where a pipeline run's wall time goes, stage kind by stage kind.

Runs the default study from a clean state (a fresh clone of this repository, with the working
tree's uncommitted changes copied over, and no DVC cache), once with plain `dvc repro` and
once with the parallel runner (``--workers``), one after the other in the same run, with the
`.venv` of this checkout. `dvc_timeline.py` notes the wall clock inside DVC and inside each
stage process, so each stage's time splits into:

- **DVC before**: from the end of the previous stage's bookkeeping (plain) or from the start
  of the stage's own ``dvc repro`` process (parallel) to the command's start: DVC's start and
  imports, reading the pipeline, the status check (hashing dependencies), and waiting for the
  repository lock (shown apart as *lock wait*);
- **start + imports**: from the command's start to the stage's ``main``: the shell, the
  interpreter, and the imports (torch, the project);
- **work**: the stage's ``main``, up to its outputs written;
- **exit**: from ``main``'s end to the command's end (interpreter shutdown);
- **DVC after**: hashing outputs, the cache, ``dvc.lock`` (and, parallel, the lock round trip
  and DVC's own exit).

For the parallel run, *runner* is what the wall time holds beyond the stages' processes:
Dask's start, planning, task dispatch and the guard processes.

    PYTHONPATH=. python benchmarks/bench_pipeline.py [--workers 2] [--modes plain parallel]
        [--params tests/tiny_params.yaml] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from activation_study.pipeline.dag import stage_kind

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
PARTS = ("before", "lock", "imports", "work", "exit", "after")
HEADERS = {"before": "DVC before", "lock": "lock wait (in before, after)",
           "imports": "start + imports", "work": "work", "exit": "exit", "after": "DVC after"}


@dataclass
class StageTime:
    name: str
    before: float = 0.0
    lock: float = 0.0
    imports: float = 0.0
    work: float = 0.0
    exit: float = 0.0
    after: float = 0.0

    @property
    def kind(self) -> str:
        return stage_kind(self.name)

    @property
    def total(self) -> float:
        return self.before + self.imports + self.work + self.exit + self.after


@dataclass
class Run:
    mode: str
    wall: float
    stages: list[StageTime] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind
    workers: int = 1

    @property
    def runner(self) -> float:
        """Parallel: worker-seconds of the run not inside a stage's processes."""
        return 0.0 if self.mode == "plain" else max(0.0, self.wall * self.workers - sum(
            s.total for s in self.stages))


def workspace(root: Path, name: str, params: Path | None) -> Path:
    """A fresh clone of this repository's HEAD with the working tree's edits copied over."""
    ws = root / name
    subprocess.run(["git", "clone", "-q", str(REPO), str(ws)], check=True)
    changed = subprocess.run(["git", "ls-files", "-m", "-o", "--exclude-standard"], cwd=REPO,
                             check=True, capture_output=True, text=True).stdout.split()
    for rel in changed:
        if (REPO / rel).is_file():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, ws / rel)
    if params:
        shutil.copy(params, ws / "params.yaml")
    return ws


def events(folder: Path) -> dict[int, list[dict]]:
    """pid -> its events, in order."""
    out = {}
    for path in folder.glob("*.jsonl"):
        out[int(path.stem)] = [json.loads(line) for line in path.read_text().splitlines()]
    return out


def _at(evs: list[dict], event: str, stage: str | None = None) -> float:
    return next(e["t"] for e in evs if e["event"] == event and
                (stage is None or e.get("stage") == stage))


def _command(stage_procs: dict[str, list[dict]], name: str, cmd_start: float,
             cmd_end: float) -> tuple[float, float, float]:
    """(start + imports, work, exit) of the command of stage ``name``."""
    evs = stage_procs.get(name)
    if not evs or not any(e["event"] == "main_start" for e in evs):  # no common.run (validate)
        return 0.0, cmd_end - cmd_start, 0.0
    main_start, main_end = _at(evs, "main_start"), _at(evs, "main_end")
    return main_start - cmd_start, main_end - main_start, cmd_end - main_end


def cpu_by_kind(folder: Path) -> dict[str, float]:
    """CPU seconds used, by process kind (of the processes that exited normally)."""
    cpu: dict[str, float] = defaultdict(float)
    for evs in events(folder).values():
        if evs[-1]["event"] == "exit":
            cpu[evs[0]["kind"]] += evs[-1]["cpu"]
    return dict(cpu)


def split_times(folder: Path) -> list[StageTime]:
    """Each reproduced stage's time, split into PARTS, from the events under ``folder``."""
    procs = events(folder)
    stage_procs = {evs[0]["stage"]: evs for evs in procs.values()
                   if evs[0]["kind"] == "stage"}
    out = []
    for evs in procs.values():
        if evs[0]["kind"] != "dvc":
            continue
        begins = [k for k, e in enumerate(evs) if e["event"] == "stage_begin"]
        previous = evs[0]["t_start"]  # plain: the end of the previous stage's bookkeeping
        for k, stop in zip(begins, [*begins[1:], len(evs)], strict=True):
            part, name = evs[k:stop], evs[k]["stage"]
            if not any(e["event"] == "cmd_start" for e in part):
                continue  # up to date: DVC skipped it
            cmd_start, cmd_end = _at(part, "cmd_start"), _at(part, "cmd_end")
            end = part[-1]["t"]  # its dvc.lock written (or, the last, DVC's exit)
            imports, work, exit_ = _command(stage_procs, name, cmd_start, cmd_end)
            lock = sum(e["seconds"] for e in evs if e["event"] == "lock"
                       and previous <= e["t"] <= end)
            out.append(StageTime(name, cmd_start - previous, lock, imports, work, exit_,
                                 end - cmd_end))
            previous = end
    return sorted(out, key=lambda s: s.name)


def run_mode(root: Path, mode: str, workers: int, params: Path | None,
             force: bool = False) -> Run:
    """One run of the study in a fresh workspace; ``force`` (plain only): every stage, also
    those whose committed outputs are up to date."""
    ws = workspace(root, mode, params)
    profile = root / f"{mode}-events"
    hook = root / "hook"
    profile.mkdir()
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text("import dvc_timeline\ndvc_timeline.install()\n")
    env = {**os.environ, "PIPELINE_PROFILE": str(profile),
           "PYTHONPATH": os.pathsep.join([str(hook), str(Path(__file__).parent)]),
           "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]])}
    command = ([str(BIN / "dvc"), "repro", *(["--force"] if force else [])] if mode == "plain" else
               [str(BIN / "python"), "-m", "activation_study.pipeline.parallel",
                "--workers", str(workers)])
    print(f"{mode}: {' '.join(command[-4:])} in {ws}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ws, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return Run(mode, wall, split_times(profile), cpu_by_kind(profile),
               workers if mode != "plain" else 1)


def table(run: Run) -> str:
    kinds = defaultdict(list)
    for s in run.stages:
        kinds[s.kind].append(s)
    head = ["stage kind", "n", *[HEADERS[p] for p in PARTS], "total", "fixed share"]
    lines = [f"**{run.mode}** ({run.workers} worker{'s' * (run.workers > 1)}): "
             f"wall {run.wall:.0f} s; stage seconds summed, by part",
             "", "| " + " | ".join(head) + " |", "| --- |" + " --: |" * (len(head) - 1)]

    def row(label: str, stages: list[StageTime]) -> str:
        sums = {p: sum(getattr(s, p) for s in stages) for p in PARTS}
        total = sum(s.total for s in stages)
        fixed = 1 - sums["work"] / total if total else 0.0
        return "| " + " | ".join([label, str(len(stages)), *[f"{sums[p]:.1f}" for p in PARTS],
                                  f"{total:.1f}", f"{fixed:.0%}"]) + " |"

    order = sorted(kinds, key=lambda k: min(s.name for s in kinds[k]))
    lines += [row(k, kinds[k]) for k in order]
    lines.append(row("**all**", run.stages))
    cpu = ", ".join(f"{kind} {seconds:.0f}" for kind, seconds in sorted(run.cpu.items()))
    lines.append(f"\nCPU seconds by process kind: {cpu} (of {os.cpu_count()} cores x wall: "
                 f"{os.cpu_count() * run.wall:.0f})")
    if run.mode != "plain":
        lines.append(f"\nrunner (worker-seconds outside the stages' processes: Dask, planning, "
                     f"idle waits): {run.runner:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["plain", "parallel"],
                        choices=["plain", "parallel"])
    parser.add_argument("--params", type=Path, default=None,
                        help="a parameter file to run instead of params.yaml")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the workspaces here and keep them")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    root.mkdir(parents=True, exist_ok=True)
    params = args.params.resolve() if args.params else None
    try:
        runs = [run_mode(root, mode, args.workers, params) for mode in args.modes]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{os.cpu_count()} CPUs; {len(runs[0].stages)} stages\n")
    for run in runs:
        print(table(run) + "\n")
    if len(runs) == 2:
        print(f"parallel / plain wall: {runs[1].wall / runs[0].wall:.2f}")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "runner": r.runner} for r in runs],
                                        indent=1))


if __name__ == "__main__":
    main()
