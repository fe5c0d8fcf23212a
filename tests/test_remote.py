"""Results move between machines through a DVC remote: push from one clone, pull into a fresh
clone of the git repository, and nothing needs rerunning there."""

import pytest

from tests.test_pipeline_e2e import IDS, sh, stale_stages

pytestmark = pytest.mark.e2e


def test_a_fresh_clone_pulls_the_results_and_reruns_nothing(project, tmp_path):
    store = tmp_path / "store"
    sh("dvc", "remote", "add", "-d", "store", str(store), cwd=project)
    sh("git", "commit", "-qam", "a DVC remote", cwd=project)
    sh("dvc", "push", cwd=project)
    assert any(path.is_file() for path in store.rglob("*"))

    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(project), str(clone), cwd=tmp_path)
    model = f"data/train/{IDS[0]}/models.pt"
    assert not (clone / model).exists()  # in DVC's cache, not in git
    sh("dvc", "pull", cwd=clone)
    assert (clone / model).read_bytes() == (project / model).read_bytes()
    assert stale_stages(clone) == set()
    out = sh("dvc", "repro", cwd=clone).stdout
    assert "Running stage" not in out, out
