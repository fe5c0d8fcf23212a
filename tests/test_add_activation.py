"""End to end: a new activation file, added to the grid, reruns nothing that exists.

In a copy of a tiny study of five activations (conftest's ``every_activation``, half 2:
digits 1x8, committed after one `dvc repro`), the test writes
``activation_study/activations/softsign.py`` and adds softsign to ``grid.activations`` with
its ``train.lr`` and ``train.shape`` keys (README, "Adding an activation"). Then:

* `dvc status`: only softsign's own configurations and the cheap summary stages are stale,
  not one existing tune, train, extraction or analysis stage;
* `dvc repro` runs exactly those, and softsign's configurations appear in the headline
  metrics, the overview charts' tables and the study report;
* `dvc metrics diff` against the baseline (HEAD) shows softsign's headline numbers as added,
  and nothing of the other activations' as changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.test_pipeline_e2e import (
    ran_stages,
    read_params,
    sh,
    stale_stages,
    write_params,
)
from tests.test_stage_deps import ACTIVATIONS, covered, project_deps, stages

pytestmark = pytest.mark.e2e

SOFTSIGN = '''"""Softsign, z / (1 + |z|): written by tests/test_add_activation.py."""

import torch

SHAPE = None
INIT = "xavier"
ON_THRESHOLD = 0.0
BAND = (-0.9, 0.9)
SOURCE = "test"


def forward(z: torch.Tensor, shape: None = None) -> torch.Tensor:
    return z / (1 + z.abs())
'''
NEW = "softsign"
# The grid of the study: digits, depth 1, width 8, no batch norm.
NEW_IDS = [f"digits-{NEW}-d1-w8-bnfalse"]
PER_CONFIGURATION = ("tune", "train", "extract_activations", "compute_metrics",
                     "classify_layers")
NEW_STAGES = {f"{kind}@digits-{NEW}-1-8-False" for kind in PER_CONFIGURATION}
GRID_READERS = {"validate", "summarize", "plot", "plot_classifiers", "report"}


def add_softsign(project: Path) -> None:
    (project / ACTIVATIONS / f"{NEW}.py").write_text(SOFTSIGN)
    params = read_params(project)
    params["grid"]["activations"].append(NEW)
    params["train"]["lr"][NEW] = 0.01  # fixed: tune@ passes it on
    params["train"]["shape"][NEW] = None
    write_params(project, params)


@pytest.mark.parametrize("every_activation", ["half2"], indirect=True)
def test_a_new_activation_reruns_only_its_own_configurations_and_the_summaries(
        every_activation, tmp_path):
    built, names = every_activation
    project = Path(shutil.copytree(built, tmp_path / "project", symlinks=True))
    existing = [f"digits-{name}-d1-w8-bnfalse" for name in names]
    add_softsign(project)

    stale = stale_stages(project)
    assert {name for name in stale if NEW in name} == NEW_STAGES
    old = stale - NEW_STAGES
    assert not {name for name in old if name.split("@")[0] in PER_CONFIGURATION}, (
        f"existing training or analysis stages made stale by a new activation: {sorted(old)}")
    # the stages reading the grid, and plot_activations (of a relu configuration) as it
    # depends on the whole activations folder (its matrix item is a configuration id)
    folder = covered(f"{ACTIVATIONS}/{NEW}.py", project_deps(stages()["plot_activations"]))
    assert {name.split("@")[0] for name in old} == GRID_READERS | (
        {"plot_activations"} if folder else set())

    assert ran_stages(project) == stale  # `dvc repro`: exactly those, and it succeeds
    assert stale_stages(project) == set()

    headline = json.loads((project / "metrics/summarize/headline.json").read_text())
    assert sorted(headline) == sorted(existing + NEW_IDS)
    tables = sorted((project / "plots/summarize").glob("*.csv"))
    assert {path.stem for path in tables} >= {"learning_curves", "layer_sparsity",
                                              "layer_classifiers"}
    for path in tables:
        configs = set(pd.read_csv(path)["config"])
        assert configs == set(existing + NEW_IDS), path.name
    report = (project / "reports/study.md").read_text()
    assert all(f"| {cid} |" in report for cid in NEW_IDS + existing)

    # against the committed baseline: softsign's headline is new, the rest did not move
    diff = json.loads(sh("dvc", "metrics", "diff", "--json", cwd=project).stdout)
    changed = diff["metrics/summarize/headline.json"]
    for cid in NEW_IDS:
        for key in (f"{cid}.test_acc.mean", f"{cid}.lr", f"{cid}.sparsity_pct.layer_1.mean"):
            assert key in changed and changed[key].get("old") is None, key
            value = headline
            for part in key.split("."):
                value = value[part]
            assert changed[key]["new"] == pytest.approx(value), key
    moved = sorted(key for key in changed if not key.startswith(f"digits-{NEW}-"))
    assert not moved, f"headline numbers of existing configurations changed: {moved}"
