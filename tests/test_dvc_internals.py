"""activation_study.pipeline.dvc_internals: the installed DVC still has every private name the
pipeline tools use, with the parameters they pass, and each wrapper still does its job on a
small repository. A DVC release that breaks one fails here, naming it, before it breaks the
parallel runner, recover, compare or reproduce_check."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from dvc import __version__ as dvc_version

from activation_study.pipeline import dvc_internals

ROOT = Path(__file__).resolve().parents[1]

DVC_YAML = """stages:
  first:
    cmd: echo 1 > one.txt
    outs:
    - one.txt
  second:
    cmd: cat one.txt > two.txt
    deps:
    - one.txt
    outs:
    - two.txt
"""


def test_the_installed_dvc_has_every_private_name_with_its_parameters():
    problems = dvc_internals.signature_problems()
    assert not problems, (
        f"DVC {dvc_version} changed private API that activation_study/pipeline/"
        f"dvc_internals.py uses (checked with DVC {' to '.join(dvc_internals.CHECKED_WITH)}):"
        "\n  " + "\n  ".join(problems))


def test_signature_problems_names_what_is_missing_or_changed(monkeypatch):
    monkeypatch.setitem(dvc_internals.SIGNATURES, "dvc.repo.reproduce.no_such_function", ())
    monkeypatch.setitem(dvc_internals.SIGNATURES, "dvc.lock.make_lock", ("path", "tmp_dir"))
    problems = sorted(dvc_internals.signature_problems())
    assert len(problems) == 2
    assert problems[0].startswith("dvc.lock.make_lock: parameters ('lockfile', ")
    assert problems[1].startswith("dvc.repo.reproduce.no_such_function: missing in DVC")


def test_the_dvc_bound_of_pyproject_covers_the_checked_releases():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [spec] = [r for r in map(Requirement, project["dependencies"]) if r.name == "dvc"]
    bound = spec.specifier
    assert any(s.operator in ("<", "<=") for s in bound), f"{spec}: DVC needs an upper bound"
    assert all(version in bound for version in dvc_internals.CHECKED_WITH)
    assert dvc_version in bound


def test_nothing_else_imports_dvc_but_its_public_api():
    """The rule this module exists for: `dvc.api` anywhere, any other `dvc` name only here."""
    offenders = []
    for path in sorted((ROOT / "activation_study").rglob("*.py")) + sorted(
            (ROOT / "stages").glob("*.py")):
        if path.name == "dvc_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if (name == "dvc" or name.startswith("dvc."))
                          and name != "dvc.api"]
    assert not offenders


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    return tmp_path


def test_the_wrappers_on_a_small_repository(repo, monkeypatch):
    monkeypatch.chdir(repo)  # DVC addresses stages relative to the working directory
    with dvc_internals.open_repo(repo) as dvc_repo:
        steps = [stage.addressing for stage in dvc_internals.repro_steps(dvc_repo)]
        assert steps == ["first", "second"]
        graph = dvc_internals.stage_graph(dvc_repo)
        assert {(a.addressing, b.addressing) for a, b in graph.edges} == {("second", "first")}
        assert sorted(dvc_internals.stale_stages(dvc_repo)) == ["first", "second"]
        assert [s.addressing for s in dvc_internals.collect(dvc_repo, "second")] == ["second"]
        with pytest.raises(dvc_internals.dvc_exception()):
            dvc_internals.collect(dvc_repo, "nosuch")
        assert dvc_internals.stage_outputs(dvc_repo, {"second"}) == [str(repo / "two.txt")]
        with dvc_internals.held(dvc_repo), pytest.raises(dvc_internals.RepositoryBusy):
            with dvc_internals.repository_lock(repo):
                pass
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=repo, check=True)
    lock = repo / "dvc.lock"
    data = dvc_internals.read_lockfile_for_update(lock)
    assert dvc_internals.dump_lockfile(data) == lock.read_text()  # the round trip keeps bytes
    assert dvc_internals.lockfile_schema_errors(data) == []
    assert dvc_internals.lockfile_schema_errors({**data, "extra": 1}) == [
        (("extra",), "extra keys not allowed")]
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    assert dvc_internals.resolve_rev(repo, "HEAD") == head
    with pytest.raises(dvc_internals.rev_error()):
        dvc_internals.resolve_rev(repo, "no-such-revision")
