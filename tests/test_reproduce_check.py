"""The reproduction check (`activation_study.pipeline.reproduce_check`) on the tiny study.

It clones a repository at a revision into a scratch folder, reruns stages there with an empty
DVC cache, and reports whether the committed outputs came out byte-equal. Each check here
reruns one train stage and what it needs (validate, download, split, tune): about 12 s, not
the whole study. The checks clone the shared `baseline` without writing to it; the test that
commits an edit works on its own copy (`project`). The module runs from this repository (cwd
ROOT, ``--repo`` the study), so the code under test is this checkout's.
"""

import json
import re
import sys
from pathlib import Path

import pytest

from activation_study.pipeline.reproduce_check import (
    address,
    changed_files,
    describe_changes,
    kind_files,
)
from tests.test_pipeline_e2e import ROOT, sh

CONFIG = "digits-relu-d1-w8-bnfalse"
STAGE = "train@digits-relu-1-8-False"  # the short form: the check adds its pipeline file


def check(repo: Path, tmp: Path, *args: str):
    """Run the check on ``repo`` as a user would, with its scratch folder under ``tmp``."""
    tmp.mkdir(exist_ok=True)
    return sh("env", f"TMPDIR={tmp}", sys.executable, "-m",
              "activation_study.pipeline.reproduce_check", *args, "--repo", str(repo),
              cwd=ROOT, check=False)


def scratch_copies(tmp: Path) -> list[Path]:
    return list(tmp.glob("reproduce-check-*"))


def test_short_stage_names_get_their_pipeline_file():
    kinds = kind_files(ROOT)
    assert kinds["train"] == "pipelines/train/dvc.yaml"
    assert address(STAGE, kinds, ROOT) == f"pipelines/train/dvc.yaml:{STAGE}"
    assert address(f"pipelines/train/dvc.yaml:{STAGE}", kinds, ROOT) == (
        f"pipelines/train/dvc.yaml:{STAGE}")
    assert address("summarize", kinds, ROOT) == "summarize"  # a stage of the root dvc.yaml
    assert address("split@digits", kinds, ROOT) == "split@digits"


@pytest.mark.e2e
def test_one_stage_reruns_byte_equal(baseline, tmp_path):
    proc = check(baseline, tmp_path / "tmp", STAGE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = next(line for line in proc.stdout.splitlines() if line.startswith("Reran"))
    assert ran.startswith("Reran 5 stages: validate, ") and ran.endswith(STAGE)  # + upstream
    assert "Running stage 'pipelines/train/dvc.yaml:" + STAGE in proc.stdout  # DVC's, streamed
    assert re.search(r"^Byte-equal: \d+ tracked files byte-equal to HEAD \([0-9a-f]{7}\)",
                     proc.stdout, re.M)
    assert "differ" not in proc.stdout.split("Reran", 1)[1]
    assert not scratch_copies(tmp_path / "tmp")  # removed at the end


@pytest.mark.e2e
def test_a_changed_committed_metric_is_reported(project, tmp_path):
    """A commit whose metric the rerun does not reproduce: exit 1, the file named, both
    sides' fingerprints and the compare table."""
    path = project / "metrics" / "train" / f"{CONFIG}.json"
    metrics = json.loads(path.read_text())
    metrics["per_seed"]["0"]["test_acc"] += 1.0
    metrics["test_acc"]["mean"] += 0.5
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    sh("git", "commit", "-qam", "an edited metric", cwd=project)

    proc = check(project, tmp_path / "tmp", STAGE, "--keep")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout.split("Reran", 1)[1]
    assert re.search(r"^Different: 1 of \d+ tracked files differ from HEAD", out, re.M)
    assert f"  metrics/train/{CONFIG}.json: differs" in out
    assert "Numeric fingerprints" in out and "committed at HEAD" in out
    assert "This machine: " in out
    row = next(line for line in out.splitlines()
               if line.startswith(CONFIG) and "test accuracy (%)" in line)
    assert "-0.50" in row  # B (the rerun) - A (the edit)
    assert "(B - A) / s.e." in out
    kept = Path(re.search(r"^Kept the scratch copy: (.+)$", proc.stdout, re.M).group(1))
    assert kept.is_relative_to(tmp_path / "tmp")
    # the clone holds the rerun: its metric is the one the baseline computed
    rerun = json.loads((kept / path.relative_to(project)).read_text())
    assert rerun["test_acc"]["mean"] == pytest.approx(metrics["test_acc"]["mean"] - 0.5)


@pytest.mark.e2e
@pytest.mark.parametrize("args, message", [
    (("train@digits-relu-9-8-False",), "error: target train@digits-relu-9-8-False: "),
    (("nonexistent",), "error: target nonexistent: "),
    (("--rev", "no-such-branch", STAGE), "error: --rev no-such-branch: not a commit"),
])
def test_bad_input_exits_2_with_one_line(baseline, tmp_path, args, message):
    proc = check(baseline, tmp_path / "tmp", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Running stage" not in proc.stdout
    assert not scratch_copies(tmp_path / "tmp")


def test_a_report_whose_wall_times_alone_differ_is_named_so(tmp_path):
    """The report's wall times come from the untracked run logs, new on every run: the check
    says that they are all that differs, with the lock file's hash of the report."""
    report = "# Study\n\n### Wall time per stage\n\n| train | {t} |\n\n## Found\n\nrelu {acc}\n"
    lock = ("schema: '2.0'\nstages:\n  report:\n    cmd: python -m stages.report\n    deps:\n"
            "    - path: metrics/summarize\n      md5: {dep}\n    outs:\n"
            "    - path: reports/study.md\n      md5: {out}\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/study.md").write_text(report.format(t=1.5, acc=90))
    (tmp_path / "dvc.lock").write_text(lock.format(dep="aa", out="bb"))
    sh("git", "init", "-q", cwd=tmp_path)
    sh("git", "add", "-A", cwd=tmp_path)
    sh("git", "commit", "-qm", "results", cwd=tmp_path)

    (tmp_path / "reports/study.md").write_text(report.format(t=1.7, acc=90))
    (tmp_path / "dvc.lock").write_text(lock.format(dep="aa", out="cc"))
    lines, timing_only = describe_changes(tmp_path, changed_files(tmp_path))
    assert timing_only
    assert lines == ["  dvc.lock: differs; output hashes: reports/study.md",
                     "  reports/study.md: differs: only its wall-time section ('### Wall time "
                     "per stage', read from the untracked run logs logs/timing/, so new on "
                     "every run)"]

    (tmp_path / "reports/study.md").write_text(report.format(t=1.7, acc=91))  # a result too
    (tmp_path / "dvc.lock").write_text(lock.format(dep="dd", out="cc"))
    lines, timing_only = describe_changes(tmp_path, changed_files(tmp_path))
    assert not timing_only
    assert lines == ["  dvc.lock: differs; output hashes: reports/study.md; dependency hashes: "
                     "metrics/summarize", "  reports/study.md: differs"]
