"""Rerun stages in a scratch clone and report whether the committed outputs came out byte-equal.

    python -m activation_study.pipeline.reproduce_check [TARGET ...] [--rev REV] [--keep]
                                                        [--repo PATH]

Why: the study's results are committed (metrics, curves, figures, the report, and the lock
files that hold the hashes of the DVC-cached outputs), and ``train.cpu_numerics: portable``
promises the same bytes on any x86-64-v3 CPU. Whether this machine keeps that promise for a
given revision is a question one command should answer, without touching the workspace, its
DVC cache or its run-cache: a plain ``dvc repro`` in the workspace finds everything up to date
and recomputes nothing, and ``dvc repro --force`` there would overwrite the committed files.

So the check clones the repository at REV (default ``HEAD``) into a temporary folder with git.
The clone's DVC cache and run-cache are empty: nothing can be restored, every stage it runs is
recomputed. Inputs that no stage computes pass through: the data stages read from outside the
repository (``ACTIVATION_STUDY_DATA``, ``data.local_dir``) is read where it is, and files added
with ``dvc add`` (a dataset of your own under ``datasets/``) are pulled from the source
repository's DVC cache. There it runs ``dvc repro --force [TARGET ...]`` (no target: the whole
study), DVC's output streamed through, and asks git which tracked files changed. None: the
outputs are byte-equal. A lock file that changed means a DVC-cached output's hash changed.

Where files differ it lists them, says what changed in a lock file (which outputs' or
dependencies' hashes), marks a report whose wall-time section alone differs (those times come
from the untracked run logs, new on every run: the report stage's output is not a function of
its dependencies), and prints the numeric fingerprints of both sides (the distinct ``numerics``
blocks the stages that reran wrote, as committed at REV and as rerun here; see
``activation_study.numerics``), this machine's CPU, and the headline metrics side by side with
seed uncertainty (``activation_study.results.compare``: A = REV, B = the rerun), with each
difference in units of its seed standard error.

TARGETs are DVC stage addresses (``summarize``, ``split@digits``,
``pipelines/train/dvc.yaml:train@mnist5k-relu-2-200-False``, a ``dvc.yaml`` file); the
per-configuration kinds may be named without their pipeline file
(``train@mnist5k-relu-2-200-False``). ``dvc repro --force TARGET`` reruns TARGET and every
stage upstream of it. Exit status: 0 byte-equal, 1 files differ, 2 bad input (an unknown
target or revision, checked before any stage runs), 3 ``dvc repro`` failed in the clone.
Uncommitted changes of the workspace are no part of the check: commit them first.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import chdir, contextmanager
from pathlib import Path
from typing import Any

import yaml

from activation_study.pipeline import dvc_internals
from activation_study.pipeline.dag import dvcfiles, plain_name, stage_kind
from activation_study.results.numerics import KEY, leaves

BYTE_EQUAL, DIFFERENT, BAD_INPUT, REPRO_FAILED = 0, 1, 2, 3
RUNNING = "Running stage '"  # how DVC announces a stage it runs
SOURCE_REMOTE = "reproduce-check-source"  # the clone's local-config remote: the source's cache
WALL_TIMES = "### Wall time per stage"  # the report's section of run-log times (not results)
LISTED = 10  # reran stages named one by one up to this many, else counted by kind


class CheckError(Exception):
    """Bad input (an unknown target, revision or repository): exit status 2, one line."""


def bin_dir() -> Path:
    """The folder of this Python's executables: the venv's ``dvc`` lives there."""
    return Path(sys.executable).parent


def child_env(site_cache: Path | None = None) -> dict[str, str]:
    """The environment of the clone's commands: the venv's bin folder first on PATH (as the
    Makefile does), DVC's site cache (index, hashes) in the scratch folder; the rest, data
    folders included (``ACTIVATION_STUDY_DATA``), unchanged."""
    env = {**os.environ, "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    if site_cache is not None and "DVC_SITE_CACHE_DIR" not in os.environ:
        env["DVC_SITE_CACHE_DIR"] = str(site_cache)
    return env


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def dvc(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir() / "dvc"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def repository(path: str) -> Path:
    """The top of the git repository at ``path``."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckError(f"--repo {path}: no such folder")
    proc = git("rev-parse", "--show-toplevel", cwd=folder, check=False)
    if proc.returncode != 0:
        raise CheckError(f"--repo {path}: not a git repository")
    return Path(proc.stdout.strip())


def resolve_rev(repo: Path, rev: str) -> str:
    """The commit ``rev`` names in ``repo`` (its full hash): a git revision, or a DVC
    experiment's name as ``dvc exp show`` lists it."""
    proc = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
               cwd=repo, check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    try:
        return dvc_internals.resolve_rev(repo, rev)
    except dvc_internals.dvc_exception():
        raise CheckError(f"--rev {rev}: not a commit of {repo} (expected a git revision, "
                         "branch, tag or DVC experiment name)") from None


def clone(repo: Path, sha: str, dest: Path) -> None:
    """A plain local git clone of ``repo`` at ``sha`` in ``dest``: no DVC cache, no run-cache."""
    git("clone", "--quiet", "--no-checkout", str(repo), str(dest), cwd=dest.parent)
    if git("cat-file", "-e", f"{sha}^{{commit}}", cwd=dest, check=False).returncode != 0:
        git("fetch", "--quiet", "origin", sha, cwd=dest)  # a commit no branch or tag reaches
    git("-c", "advice.detachedHead=false", "checkout", "--quiet", sha, cwd=dest)
    if not (dest / ".dvc").is_dir():
        raise CheckError(f"{sha[:7]} of {repo} holds no DVC project (.dvc/)")


def kind_files(root: Path) -> dict[str, str]:
    """``{kind: "pipelines/<kind>/dvc.yaml"}``: the per-configuration kinds' pipeline files
    (each in the folder its kind names)."""
    return {path.parent.name: path.as_posix() for path in dvcfiles(root)
            if path != Path("dvc.yaml")}


def address(target: str, kinds: dict[str, str], root: Path) -> str:
    """``train@ID`` -> ``pipelines/train/dvc.yaml:train@ID``; any other target as it is."""
    if ":" in target or (root / target).exists():
        return target
    kind = stage_kind(target)
    return f"{kinds[kind]}:{target}" if kind in kinds else target


def check_targets(root: Path, targets: Iterable[str]) -> list[str]:
    """The targets as DVC addresses, each checked with DVC's own collection (CheckError for a
    target that names no stage), before any stage runs."""
    dvc_exception = dvc_internals.dvc_exception()
    targets = list(targets)
    kinds = kind_files(root)
    addressed = [address(target, kinds, root) for target in targets]
    try:  # DVC resolves a target's pipeline file against the working directory: the clone's
        with chdir(root), dvc_internals.open_repo(root) as repo:
            for target, full in zip(targets, addressed, strict=True):
                try:
                    found = dvc_internals.collect(repo, full)
                except dvc_exception as exc:
                    message = " ".join(str(exc).replace(f"{root}/", "").split())
                    raise CheckError(f"target {target}: {message}") from None
                if not found:
                    raise CheckError(f"target {target}: names no stage")
    except dvc_exception as exc:  # the pipeline itself cannot be read at this revision
        raise CheckError(f"the pipeline at this revision: {' '.join(str(exc).split())}") from None
    return addressed


def restore_inputs(source: Path, root: Path, env: dict[str, str]) -> list[str]:
    """Pull the files added with ``dvc add`` (inputs no stage computes) from the source
    repository's DVC cache into the clone; the ``.dvc`` files pulled."""
    files = git("ls-files", "*.dvc", cwd=root).stdout.split()
    if not files:
        return []
    cache = dvc("cache", "dir", cwd=source, env=env)
    if cache.returncode != 0:
        raise CheckError(f"{source}: no DVC cache to take {', '.join(files)} from")
    added = dvc("remote", "add", "--local", SOURCE_REMOTE, cache.stdout.strip(), cwd=root,
                env=env)
    pulled = dvc("pull", "--quiet", "-r", SOURCE_REMOTE, *files, cwd=root, env=env)
    if added.returncode != 0 or pulled.returncode != 0:
        raise CheckError(f"the data of {', '.join(files)} is not in {source}'s DVC cache "
                         "(dvc pull it there first): " + " ".join(pulled.stderr.split())[-300:])
    return files


def repro(root: Path, targets: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """``dvc repro --force [TARGET ...]`` in ``root``, its output streamed through; its exit
    status and the stages it ran (DVC's addresses, in order)."""
    command = [str(bin_dir() / "dvc"), "repro", "--force", *targets]
    print("$ " + " ".join(["dvc", *command[1:]]), flush=True)
    ran: list[str] = []
    with subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        # newline="": a progress bar's carriage returns pass through as they are
        for line in io.TextIOWrapper(proc.stdout, errors="replace", newline=""):
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith(RUNNING):
                ran.append(line[len(RUNNING):].split("'", 1)[0])
    return proc.returncode, ran


def changed_files(root: Path) -> list[tuple[str, str]]:
    """``(git status code, path)`` of every file that differs from the clone's HEAD: tracked
    files changed or deleted, and files no ignore rule covers that the rerun added."""
    out = git("status", "--porcelain", "--untracked-files=all", "-z", cwd=root).stdout
    entries = [entry for entry in out.split("\0") if entry]
    return [(entry[:2].strip(), entry[3:]) for entry in entries]


def committed_text(root: Path, path: str) -> str | None:
    """``path`` as the clone's HEAD holds it (None: not there)."""
    proc = git("show", f"HEAD:{path}", cwd=root, check=False)
    return proc.stdout if proc.returncode == 0 else None


def without_wall_times(text: str) -> str:
    """A report without its wall-time section (from its heading to the next heading)."""
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("#"):
            skipping = line.strip() == WALL_TIMES
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def wall_times_only(root: Path, path: str) -> bool:
    """Whether a changed report differs from HEAD in its wall-time section alone: the stage
    times it reads from the untracked run logs (logs/timing/), new on every run."""
    if not path.endswith(".md") or not (root / path).is_file():
        return False
    before = committed_text(root, path)
    after = (root / path).read_text()
    return (before is not None and WALL_TIMES in before
            and without_wall_times(before) == without_wall_times(after))


def lock_entries(text: str | None) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(text) if text else None
    return (data or {}).get("stages") or {}


def hashes(stage: dict[str, Any], section: str) -> dict[str, Any]:
    return {entry["path"]: entry.get("md5", entry.get("hash"))
            for entry in stage.get(section) or [] if isinstance(entry, dict) and "path" in entry}


def lock_changes(root: Path, path: str) -> dict[str, set[str]]:
    """What changed in a lock file against HEAD: ``outputs`` and ``dependencies`` (paths)
    whose hash changed, and ``stages`` whose command or parameters changed, or that one side
    lacks."""
    before = lock_entries(committed_text(root, path))
    after = lock_entries((root / path).read_text() if (root / path).is_file() else None)
    found: dict[str, set[str]] = {"outputs": set(), "dependencies": set(), "stages": set()}
    for name in set(before) | set(after):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            found["stages"].add(name)
            continue
        for section, key in (("outs", "outputs"), ("deps", "dependencies")):
            ha, hb = hashes(a, section), hashes(b, section)
            found[key] |= {p for p in set(ha) | set(hb) if ha.get(p) != hb.get(p)}
        if a.get("cmd") != b.get("cmd") or a.get("params") != b.get("params"):
            found["stages"].add(name)
    return found


def describe_changes(root: Path, changed: list[tuple[str, str]]) -> tuple[list[str], bool]:
    """A line per changed file, saying what changed where it can; and whether the report's
    wall times are all that differ."""
    plain = {"M": "differs", "D": "not written (deleted)", "??": "new (not committed)"}
    timed = {path for code, path in changed if code == "M" and wall_times_only(root, path)}
    locks = {path: lock_changes(root, path) for code, path in changed
             if code == "M" and Path(path).name == "dvc.lock"}
    outputs = set().union(*(found["outputs"] for found in locks.values()))
    lines, explained = [], True
    for code, path in changed:
        text = plain.get(code, f"changed ({code})")
        if path in timed:
            text += (f": only its wall-time section ('{WALL_TIMES}', read from the untracked "
                     "run logs logs/timing/, so new on every run)")
        elif path in locks:
            found = locks[path]
            shown = {"output hashes": found["outputs"],  # a dependency that is a changed
                     "dependency hashes": found["dependencies"] - outputs,  # output: said
                     "stage commands or parameters": found["stages"]}
            text += "".join(f"; {key}: {', '.join(sorted(paths))}"
                            for key, paths in shown.items() if paths)
            explained &= not found["stages"] and found["outputs"] <= timed and (
                found["dependencies"] <= outputs)
        else:
            explained = False
        lines.append(f"  {path}: {text}")
    return lines, explained and bool(timed)


def stage_outputs(root: Path, stages: Iterable[str]) -> list[str]:
    """The outputs of ``stages`` (DVC addresses), as paths relative to ``root``."""
    with chdir(root), dvc_internals.open_repo(root) as repo:  # addresses: relative to cwd
        return sorted({Path(os.path.relpath(path, root)).as_posix()
                       for path in dvc_internals.stage_outputs(repo, set(stages))})


def fingerprint_files(outputs: Iterable[str], root: Path) -> list[str]:
    """Where the reran stages wrote a numeric fingerprint: their JSON outputs, and the
    ``meta.json`` of an output folder (extract_activations keeps its block there)."""
    files = []
    for out in outputs:
        if out.endswith(".json"):
            files.append(out)
        elif (root / out).is_dir() and (root / out / "meta.json").is_file():
            files.append(f"{out}/meta.json")
    return files


def read_numerics(text: bytes | str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    block = data.get(KEY) if isinstance(data, dict) else None
    return block if isinstance(block, dict) else None


def committed_numerics(source: Path, sha: str, files: list[str]) -> dict[str, dict[str, Any]]:
    """The ``numerics`` blocks of ``files`` as committed at ``sha``: git-tracked files from
    git, DVC-cached ones (a ``meta.json``) from the source repository's DVC cache where it
    holds them."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo=str(source), rev=sha)
    blocks = {}
    for file in files:
        try:
            block = read_numerics(fs.cat_file(file))
        except Exception:  # not committed, or not in the source's DVC cache
            continue
        if block is not None:
            blocks[file] = block
    return blocks


def rerun_numerics(root: Path, files: list[str]) -> dict[str, dict[str, Any]]:
    blocks = {}
    for file in files:
        if (root / file).is_file():
            block = read_numerics((root / file).read_bytes())
            if block is not None:
                blocks[file] = block
    return blocks


def count_files(n: int) -> str:
    return f"{n} file{'s' * (n != 1)}"


def render_fingerprints(committed: dict[str, dict[str, Any]], rerun: dict[str, dict[str, Any]],
                        rev_label: str) -> str:
    """Both sides' distinct fingerprints, each with its number of files, and the keys whose
    values differ between the sides."""
    lines = ["Numeric fingerprints (the `numerics` blocks of the reran stages' outputs):"]
    for label, blocks in ((f"committed at {rev_label}", committed), ("this rerun", rerun)):
        distinct = Counter(json.dumps(block, sort_keys=True) for block in blocks.values())
        lines.append(f"  {label}: {count_files(len(blocks))}, {len(distinct)} distinct")
        lines += [f"    {block}  ({count_files(n)})" for block, n in distinct.most_common()]
    if not committed and not rerun:
        return ("Numeric fingerprints: none on either side (the reran stages' outputs carry no "
                "`numerics` block: made before fingerprints were recorded)")
    if not committed or not rerun:
        lines.append("  (no fingerprint on one side: nothing to set side by side)")
        return "\n".join(lines)

    def values(blocks: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
        """Every leaf's values over the blocks, by dotted key."""
        found: dict[str, set[str]] = {}
        for block in blocks.values():
            for key, value in leaves(block):
                found.setdefault(key, set()).add(json.dumps(value))
        return found

    a, b = values(committed), values(rerun)
    differ = [key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    if not differ:
        lines.append("  the same on both sides: mode, kernels, threads, versions and device "
                     "agree, so the difference comes from elsewhere (code, data, parameters, "
                     "or a path the fingerprint does not name)")
    for key in differ:
        lines.append(f"  {key}: {', '.join(sorted(a.get(key, {'-'})))} -> "
                     f"{', '.join(sorted(b.get(key, {'-'})))}")
    return "\n".join(lines)


def render_machine() -> str:
    from activation_study.numerics import machine_details

    m = machine_details()
    yes = {True: "yes", False: "no"}
    return (f"This machine: {m['cpu'] or 'unknown CPU'} ({m['vendor'] or m['machine']}, "
            f"{m['machine']}, AVX2 {yes[bool(m['avx2'])]}, AVX-512 {yes[bool(m['avx512'])]}, "
            f"{m['cores']} cores, Python {m['python']})")


def render_metrics(root: Path, rev_label: str) -> str:
    """The headline metrics of the clone's HEAD (A, as committed) against its workspace (B,
    the rerun) through ``activation_study.results.compare``, then every changed quantity's
    difference in units of the seed standard error of the difference."""
    from tabulate import tabulate

    from activation_study.results import compare

    (fs_a, _), (fs_b, _) = compare.open_side(str(root), "HEAD"), compare.open_side(str(root),
                                                                                    None)
    side_a, side_b = compare.read_side(fs_a), compare.read_side(fs_b)
    if not side_a or not side_b:
        return ("Headline metrics: no metrics/train/*.json on "
                f"{'both sides' if not side_a and not side_b else 'one side'}: nothing to compare")
    result = compare.compare(side_a, side_b)
    text = compare.render(result, f"committed at {rev_label}", "this rerun")
    table = []
    for row in result.changed:
        if row.a is None or row.b is None or row.a.is_setting or row.b.is_setting:
            continue
        if row.a.mean is None or row.b.mean is None:
            continue
        difference = row.b.mean - row.a.mean
        se = math.hypot(row.a.se or 0.0, row.b.se or 0.0)
        units = f"{difference / se:+.2f}" if se > 0 else ("0" if difference == 0 else "inf")
        table.append([row.config, row.label, f"{difference:+.4g}", f"{se:.3g}", units])
    if table:
        text += ("\nEach difference in units of its seed standard error, "
                 "sqrt(se_A^2 + se_B^2):\n"
                 + tabulate(table, headers=["configuration", "quantity", "B - A", "s.e.",
                                            "(B - A) / s.e."],
                            tablefmt="simple", disable_numparse=True) + "\n")
    return text


def describe_stages(ran: list[str]) -> str:
    if len(ran) <= LISTED:
        return ", ".join(plain_name(name) for name in ran)
    kinds = Counter(stage_kind(name) for name in ran)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items())


def verdict(source: Path, root: Path, sha: str, rev_label: str, ran: list[str]) -> int:
    """Print the verdict (and, where files differ, why they may); the exit status."""
    changed = changed_files(root)
    tracked = {path for path in git("ls-files", "-z", cwd=root).stdout.split("\0") if path}
    print(f"\nReran {len(ran)} stage{'s' * (len(ran) != 1)}: {describe_stages(ran)}")
    outputs = stage_outputs(root, ran)
    written = [out for out in outputs if out in tracked]
    if not changed:
        print(f"Byte-equal: {len(tracked)} tracked files byte-equal to {rev_label}, among "
              f"them the reran stages' {count_files(len(written))} in git and the lock files "
              "(which hold the hashes of their DVC-cached outputs).")
        return BYTE_EQUAL
    print(f"Different: {len(changed)} of {len(tracked)} tracked files differ from {rev_label}:")
    lines, timing_only = describe_changes(root, changed)
    print("\n".join(lines))
    if timing_only:
        print("Only the report's wall times differ (and the lock file's hash of the report): "
              "every computed result is byte-equal.")
    print()
    files = fingerprint_files(outputs, root)
    print(render_fingerprints(committed_numerics(source, sha, files), rerun_numerics(root, files),
                              rev_label))
    print(render_machine())
    print()
    print(render_metrics(root, rev_label), end="")
    return DIFFERENT


@contextmanager
def scratch(keep: bool) -> Iterator[Path]:
    """A temporary folder, removed at the end unless ``keep`` (then its path is printed)."""
    folder = Path(tempfile.mkdtemp(prefix="reproduce-check-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"Kept the scratch copy: {folder / 'repo'}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the in-process DVC calls, restored after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m activation_study.pipeline.reproduce_check",
        description="Rerun stages (default: the whole study) in a scratch git clone at REV with "
                    "an empty DVC cache, and report whether the committed outputs came out "
                    "byte-equal. Exit status: 0 byte-equal, 1 files differ, 2 bad input, "
                    "3 dvc repro failed.")
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="DVC stage addresses (summarize, split@digits, "
                             "pipelines/train/dvc.yaml:train@ID or train@ID); each is rerun "
                             "with the stages upstream of it. None: the whole study")
    parser.add_argument("--rev", default="HEAD", help="the revision to check (default: HEAD)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch copy and print its path")
    parser.add_argument("--repo", default=".", help="the repository (default: .)")
    return parser.parse_args(None if argv is None else list(argv))


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        source = repository(args.repo)
        sha = resolve_rev(source, args.rev)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    rev_label = f"{args.rev} ({sha[:7]})"
    with scratch(args.keep) as folder:
        root = folder / "repo"
        env = child_env(folder / "dvc-site-cache")
        with environ({"DVC_SITE_CACHE_DIR": env["DVC_SITE_CACHE_DIR"]}):
            try:
                clone(source, sha, root)
                targets = check_targets(root, args.targets)
                restore_inputs(source, root, env)
            except (CheckError, RuntimeError) as exc:  # RuntimeError: git failed
                print(f"error: {exc}", file=sys.stderr)
                return BAD_INPUT
            print(f"Reproduction check of {source} at {rev_label}: "
                  f"{' '.join(targets) if targets else 'the whole study'}, in a fresh clone "
                  "with an empty DVC cache (uncommitted changes are not part of it)", flush=True)
            status, ran = repro(root, targets, env)
            if status != 0:
                print(f"error: dvc repro failed in the clone (exit status {status}): the "
                      "outputs were not reproduced", file=sys.stderr)
                return REPRO_FAILED
            return verdict(source, root, sha, rev_label, ran)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
