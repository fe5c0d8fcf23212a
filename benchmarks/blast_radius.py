"""The blast radius of a one-file edit: which stages an edit of each project module makes
stale, counted on a parameter file, for any git revision.

DVC stales a stage exactly when one of its listed dependencies changes, so the count is
read statically from ``dvc.yaml``: a stage is stale when it lists the module, or a folder
holding it (``activation_study/activations/${item.activation}.py`` counts for the
configurations of that activation only). The per-module counts of ``dvc status`` after
appending a comment line to each file agree (``tests/test_blast_radius.py`` checks a few).

    python benchmarks/blast_radius.py [--rev REV] [--params params.yaml] [--markdown]
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
from pathlib import Path

import yaml

PACKAGES = ("activation_study/", "stages/")
COSTLY = ("tune", "train")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def expand(stage: dict, params: dict) -> list[dict]:
    """The matrix items of a stage (one empty item for a plain stage)."""
    matrix = stage.get("matrix")
    if not matrix:
        return [{}]
    axes = {}
    for axis, ref in matrix.items():
        key = re.fullmatch(r"\$\{(.+)\}", str(ref)).group(1)
        node = params
        for part in key.split("."):
            node = node[part]
        axes[axis] = node or []
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def pipeline(rev: str | None) -> tuple[dict, list[str]]:
    """The stages of dvc.yaml and pipelines/*/dvc.yaml, and the project's Python files, at
    ``rev`` or in the working tree."""
    def read(path: str) -> str:
        return Path(path).read_text() if rev is None else git("show", f"{rev}:{path}")

    files = (git("ls-files", "--cached", "--others", "--exclude-standard") if rev is None
             else git("ls-tree", "-r", "--name-only", rev)).split()
    dvcfiles = [f for f in files if f == "dvc.yaml" or re.fullmatch(r"pipelines/\w+/dvc\.yaml", f)]
    stages = {kind: stage for path in dvcfiles
              for kind, stage in yaml.safe_load(read(path))["stages"].items()}
    return stages, [f for f in files if f.startswith(PACKAGES) and f.endswith(".py")]


def stale_counts(rev: str | None, params: dict) -> dict[str, dict[str, int]]:
    """module -> {stage kind: number of stages of that kind an edit of it makes stale}."""
    stages, files = pipeline(rev)
    counts: dict[str, dict[str, int]] = {f: {} for f in files}
    for kind, stage in stages.items():
        for item in expand(stage, params):
            deps = [re.sub(r"\$\{item\.(\w+)\}", lambda m, i=item: str(i.get(m.group(1), "")),
                           d) for d in stage.get("deps", [])]
            for f in files:
                if any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps):
                    counts[f][kind] = counts[f].get(kind, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default=None, help="a git revision (default: the working tree)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    counts = stale_counts(args.rev, params)
    total = sum(len(expand(s, params)) for s in pipeline(args.rev)[0].values())
    if args.markdown:
        print("| module | stage kinds it stales | stages | of them tune/train |")
        print("| --- | --- | --: | --: |")
    for module, kinds in sorted(counts.items()):
        if not kinds and not args.markdown:
            continue
        stages = sum(kinds.values())
        costly = sum(kinds.get(k, 0) for k in COSTLY)
        names = ", ".join(kinds) or "none"
        print(f"| `{module}` | {names} | {stages} | {costly} |" if args.markdown
              else f"{module:55s} {stages:4d} {costly:4d}  {names}")
    every = [m for m, k in counts.items() if sum(k.values()) == total]
    training = [m for m, k in counts.items() if any(k.get(c) for c in COSTLY)]
    print(f"\n{args.rev or 'working tree'} on {args.params}: {total} stages; {len(training)} "
          f"modules stale a tune or train stage; {len(every)} stale every stage "
          f"({', '.join(every) or 'none'}); one-file edits summed: "
          f"{sum(sum(k.values()) for k in counts.values())} stage reruns, "
          f"{sum(sum(k.get(c, 0) for c in COSTLY) for k in counts.values())} of them tune/train")


if __name__ == "__main__":
    main()
