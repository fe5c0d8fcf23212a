"""What portable CPU numerics cost, and which stage kinds' outputs they change.

In one run, from fresh clones (bench_pipeline's workspaces: this checkout's working tree, no
DVC cache), on this machine:

1. the default study with plain `dvc repro --force` (every stage runs), ``train.cpu_numerics:
   native`` and then ``portable``: wall time and each stage kind's work (bench_pipeline's
   split);
2. one training, ``train@mnist5k-relu-2-200-False``, alternately native and portable,
   ``--repeats`` times each (its own process, as DVC runs it): median wall time;
3. which outputs differ between the two studies, by the stage that wrote them.

With ``--knobs``, step 3 is also measured knob by knob: the study of ``--knob-params``
(default: the tests' tiny study) once per variable that portable mode sets, in native mode
with every other portable variable set, each compared with the fully portable study: a stage
kind whose outputs move when one variable is left to the CPU depends on that variable here.

    PYTHONPATH=. python benchmarks/bench_numerics.py [--repeats 3] [--knobs] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml
from bench_pipeline import BIN, REPO, run_mode, workspace

from activation_study.numerics import NATIVE, PORTABLE, PORTABLE_ENV, machine_details

TRAIN = ["-m", "stages.train", "--config", "mnist5k-relu-d2-w200-bnfalse"]
TRACKED = ("metrics", "plots", "reports/study.md")


def params_file(root: Path, source: Path, mode: str) -> Path:
    params = yaml.safe_load(source.read_text())
    params["train"]["cpu_numerics"] = mode
    path = root / f"params-{source.stem}-{mode}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def content(file: Path) -> str:
    """A file's bytes, hex; a JSON file without its ``numerics`` block, which names the mode
    and so differs between the two modes even where every number is equal."""
    if file.suffix == ".json":
        data = json.loads(file.read_text())
        if isinstance(data, dict) and "numerics" in data:
            data.pop("numerics")
            return json.dumps(data, sort_keys=True)
    return file.read_bytes().hex()


def outputs(ws: Path) -> dict[str, str]:
    """Every output of the study, by path: each stage's outputs as written in the workspace
    (DVC-cached folders file by file), fingerprints left out (``content``)."""
    found = {}
    for top in ("data", *TRACKED):
        path = ws / top
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and "dvclive" not in file.parts:
                found[str(file.relative_to(ws))] = content(file)
    return found


def stage_of(path: str) -> str:
    """The stage kind that wrote ``path`` (the second part of data/, metrics/, plots/ paths)."""
    parts = Path(path).parts
    return "report" if parts[0] == "reports" else parts[1]


def differing_kinds(a: dict[str, str], b: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Stage kind -> (output files that differ, output files compared)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in sorted(set(a) | set(b)):
        kind = stage_of(path)
        counts[kind][1] += 1
        counts[kind][0] += a.get(path) != b.get(path)
    return {kind: (d, n) for kind, (d, n) in sorted(counts.items())}


def time_training(ws: dict[str, Path], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {NATIVE: [], PORTABLE: []}
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]])}
    for _ in range(repeats):
        for mode in (NATIVE, PORTABLE):
            start = time.perf_counter()
            subprocess.run([str(BIN / "python"), *TRAIN], cwd=ws[mode], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[mode].append(time.perf_counter() - start)
    return {mode: statistics.median(t) for mode, t in times.items()}


def knob_study(root: Path, source: Path) -> None:
    """The study of ``source`` fully portable, then once per portable variable left native."""
    portable = workspace(root / "knobs", "portable", params_file(root, source, PORTABLE))
    subprocess.run([str(BIN / "dvc"), "repro"], cwd=portable, check=True,
                   stdout=subprocess.DEVNULL,
                   env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    reference = outputs(portable)
    native_params = params_file(root, source, NATIVE)
    print(f"\n**Knob by knob** ({source}): stage kinds whose outputs differ from the portable "
          "study when one variable is left to the CPU (native mode, every other pin set)\n")
    print("| variable left native | stage kinds with differing outputs (differing / all) |")
    print("| --- | --- |")
    for knob in ["(none: every pin set)", *[k for k in PORTABLE_ENV if k != "DNNL_MAX_CPU_ISA"]]:
        env = {k: v for k, v in PORTABLE_ENV.items() if k != knob}
        if knob == "ONEDNN_MAX_CPU_ISA":
            env.pop("DNNL_MAX_CPU_ISA")
        ws = workspace(root / "knobs", knob.split(":")[0].strip("() "), native_params)
        subprocess.run([str(BIN / "dvc"), "repro"], cwd=ws, check=True,
                       stdout=subprocess.DEVNULL,
                       env={**os.environ, **env, "PATH": f"{BIN}:{os.environ['PATH']}"})
        kinds = differing_kinds(reference, outputs(ws))
        moved = [f"{k} ({d}/{n})" for k, (d, n) in kinds.items() if d]
        print(f"| {knob} | {', '.join(moved) or 'none'} |", flush=True)
        shutil.rmtree(ws, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--knobs", action="store_true")
    parser.add_argument("--knob-params", type=Path, default=REPO / "tests" / "tiny_params.yaml")
    parser.add_argument("--skip-study", action="store_true",
                        help="only the knob-by-knob table (with --knobs)")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-numerics-"))
    root.mkdir(parents=True, exist_ok=True)
    machine = machine_details()
    print(f"{machine['cpu']} ({machine['vendor']}, AVX-512: {machine['avx512']}), "
          f"{machine['cores']} cores, Python {machine['python']}\n")
    try:
        if not args.skip_study:
            runs, ws = {}, {}
            for mode in (NATIVE, PORTABLE):
                params = params_file(root, REPO / "params.yaml", mode)
                runs[mode] = run_mode(root / mode, "plain", 1, params, force=True)
                ws[mode] = root / mode / "plain"
            work = {mode: defaultdict(float) for mode in runs}
            for mode, run in runs.items():
                for stage in run.stages:
                    work[mode][stage.kind] += stage.work
            print("| | native | portable | portable / native |\n| --- | --: | --: | --: |")
            print(f"| `dvc repro --force`, wall (s) | {runs[NATIVE].wall:.0f} | "
                  f"{runs[PORTABLE].wall:.0f} | {runs[PORTABLE].wall / runs[NATIVE].wall:.2f} |")
            for kind in sorted(work[NATIVE], key=lambda k: -work[NATIVE][k]):
                a, b = work[NATIVE][kind], work[PORTABLE][kind]
                print(f"| {kind}: work, summed (s) | {a:.1f} | {b:.1f} | "
                      f"{b / a if a else float('nan'):.2f} |")
            train = time_training(ws, args.repeats)
            print(f"| one training, median of {args.repeats} (s) | {train[NATIVE]:.1f} | "
                  f"{train[PORTABLE]:.1f} | {train[PORTABLE] / train[NATIVE]:.2f} |")
            print("\nOutputs that differ between the native and the portable study, by stage "
                  "kind (differing / all):\n")
            kinds = differing_kinds(outputs(ws[NATIVE]), outputs(ws[PORTABLE]))
            print(", ".join(f"{k} {d}/{n}" for k, (d, n) in kinds.items()))
        if args.knobs:
            knob_study(root, args.knob_params)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
