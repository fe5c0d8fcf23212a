"""End to end: the real dvc.yaml on a tiny grid in a temporary git repository.

`dvc repro`, then edits of single parameters (learning rate, grid, analysis, extraction,
classifier): only the stages that read them are stale, only they rerun, and
`dvc metrics diff` reports the change.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from activation_study.activations import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {
    "grid": {"datasets": ["digits"], "activations": ["relu", "sigmoid"], "depths": [1, 2],
             "widths": [8], "batchnorm": [False, True]},
    "train": {"seeds": [0, 1], "epochs": 2, "batch_size": 64,
              "lr": {"relu": 0.01, "sigmoid": 0.01, "tanh": 0.01}, "lr_decay": 0.99,
              "snapshot_epochs": [1], "device": "cpu"},
    "plots": {"configs": ["digits-relu-d2-w8-bnfalse"], "seed_index": 0, "hist_nodes": 2},
}

pytestmark = pytest.mark.e2e


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_params(project: Path, updates: dict) -> None:
    """Replace whole groups' keys of the project's params.yaml (the repository's the first time)."""
    current = project / "params.yaml"
    params = yaml.safe_load((current if current.exists() else ROOT / "params.yaml").read_text())
    for group, values in updates.items():
        params[group].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(project: Path, params: dict) -> Path:
    """A copy of the repository's code (no results) with ``params``, after one `dvc repro`."""
    files = sh("git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout
    for rel in files.split():
        if rel.split("/")[0] in ("data", "metrics", "plots") or rel == "dvc.lock":
            continue
        if (ROOT / rel).is_file():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, project / rel)
    write_params(project, params)
    sh("git", "init", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "tiny study", cwd=project)
    sh("dvc", "repro", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "results", cwd=project)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The tiny grid, after one `dvc repro`."""
    return make_project(tmp_path_factory.mktemp("pipeline"), TINY)


def stale_stages(project: Path) -> set[str]:
    return set(json.loads(sh("dvc", "status", "--json", cwd=project).stdout))


def ran_stages(project: Path) -> set[str]:
    out = sh("dvc", "repro", cwd=project).stdout
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def test_repro_produces_every_output(project):
    assert stale_stages(project) == set()
    ids = [f"digits-{a}-d{d}-w8-bn{b}" for a in ("relu", "sigmoid") for d in (1, 2)
           for b in ("false", "true")]
    for cid in ids:
        metrics = json.loads((project / f"metrics/train/{cid}.json").read_text())
        assert 0 <= metrics["test_acc"]["mean"] <= 100 and metrics["seeds"] == [0, 1]
        assert (project / f"plots/train/{cid}.csv").is_file()
        assert (project / f"data/train/{cid}/models.pt").is_file()
        nodes = json.loads((project / f"metrics/compute_metrics/{cid}.json").read_text())
        assert set(nodes["states"]) == {"initial", "epoch1", "best"}
        layer = nodes["states"]["best"]["train"]["layer_1"]
        assert 0 <= layer["sparsity_pct"]["mean"] <= 100
        classify = json.loads((project / f"metrics/classify_layers/{cid}.json").read_text())
        assert set(classify["states"]) == {"initial", "epoch1", "best"}
        expected = ["discrete", "continuous", "combined"] if "relu" in cid else [
            "discrete", "continuous"]
        assert classify["systems"] == expected
        test = classify["states"]["best"]["test"]
        assert all(0 <= test[f"layer_{k}"][s]["mean"] <= 100
                   for k in range(1, int(cid.split("-d")[1][0]) + 1) for s in expected)
        # the network's accuracy, measured on the extracted samples, is the train stage's
        np.testing.assert_allclose(
            test["network"]["per_seed"],
            [metrics["per_seed"][str(seed)]["test_acc"] for seed in (0, 1)], atol=1e-3)
        assert (project / f"plots/classify_layers/{cid}.csv").is_file()
    study = json.loads((project / "metrics/summarize/study.json").read_text())
    assert sorted(study["configs"]) == sorted(ids)
    tables = (project / "metrics/summarize/tables.md").read_text()
    assert "Table 5.1" in tables and "Layers as classifiers" in tables
    figures = {p.name for p in (project / "plots/plot_classifiers").glob("*.png")}
    assert figures == {f"layers_digits_{a}_w8_bn{b}.png" for a in ("relu", "sigmoid")
                       for b in ("false", "true")} | {"epochs_digits-relu-d2-w8-bnfalse.png"}
    assert list((project / "plots/plot").glob("*.png"))
    assert list((project / "plots/plot_activations/digits-relu-d2-w8-bnfalse").glob("*.png"))
    tuned = json.loads((project / f"metrics/tune/{ids[0]}.json").read_text())
    assert tuned["mode"] == "fixed" and tuned["lr"] == 0.01 and tuned["search"] == []
    report = (project / "reports/study.md").read_text()
    assert "## What the study found" in report and "| digits-relu-d2-w8-bnfalse |" in report
    assert "### Wall time per stage" in report and "| train | 8 |" in report  # run logs
    assert (project / "logs/timing/train/digits-relu-2-8-false.json").is_file()
    # datasets and models live in the DVC cache, never in git
    assert sh("git", "check-ignore", "-q", f"data/train/{ids[0]}/models.pt", cwd=project)
    tracked = sh("git", "ls-files", cwd=project).stdout.split()
    assert not [f for f in tracked if f.startswith(("data/", "logs/")) and f != "data/.gitkeep"]


def test_learning_rate_edit_reruns_only_its_stages(project):
    write_params(project, {"train": {**TINY["train"],
                                     "lr": {**TINY["train"]["lr"], "sigmoid": 0.03}}})
    stale = stale_stages(project)
    # the rate reaches training through tune@CONFIG, which passes a fixed rate on
    sigmoid = {s for s in stale if s.startswith("tune@") and "sigmoid" in s}
    assert len(sigmoid) == 4
    assert stale == sigmoid | {"validate"}

    ran = ran_stages(project)
    assert {s for s in ran if s.startswith(("tune@", "train@"))} == sigmoid | {
        s.replace("tune@", "train@") for s in sigmoid}
    assert stale_stages(project) == set()
    tuned = json.loads((project / "metrics/tune/digits-sigmoid-d1-w8-bnfalse.json").read_text())
    assert tuned["mode"] == "fixed" and tuned["lr"] == 0.03

    diff = json.loads(sh("dvc", "metrics", "diff", "--json", cwd=project).stdout)
    changed = {path for path, values in diff.items() if values}
    assert any("sigmoid" in p and p.startswith("metrics/train/") for p in changed)
    assert not any("relu" in p and p.startswith("metrics/train/") for p in changed)
    # the node-level metrics of the retrained sigmoid networks move too, key by key
    sigmoid_nodes = diff["metrics/compute_metrics/digits-sigmoid-d2-w8-bnfalse.json"]
    assert "states.best.train.layer_2.sparsity_pct.mean" in sigmoid_nodes
    assert not diff.get("metrics/compute_metrics/digits-relu-d2-w8-bnfalse.json")
    sh("dvc", "plots", "diff", "HEAD", "-o", "plots_html", cwd=project)
    assert (project / "plots_html" / "index.html").is_file()


def test_batch_larger_than_training_set_is_refused_before_training(project):
    original = (project / "params.yaml").read_text()
    write_params(project, {"train": {**TINY["train"], "batch_size": 100000}})
    try:
        proc = sh("python", "-m", "stages.train", "--dataset", "digits", "--activation", "relu",
                  "--depth", "1", "--width", "8", "--batchnorm", "false", cwd=project,
                  check=False)
    finally:
        (project / "params.yaml").write_text(original)
    assert proc.returncode == 2
    assert "train.batch_size" in proc.stderr and "training samples" in proc.stderr


def test_new_depth_adds_stages_and_unrelated_keys_rerun_nothing(project):
    original = (project / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        params["notes"] = {"author": "someone"}  # a key no stage reads
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert stale_stages(project) == set()

        params["grid"]["depths"] = [1, 2, 3]
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = stale_stages(project)
        new = {s for s in stale if "@" in s}
        assert new == {f"{stage}@digits-{a}-3-8-{b}"
                       for stage in ("tune", "train", "extract_activations",
                                     "compute_metrics", "classify_layers")
                       for a in ("relu", "sigmoid") for b in ("False", "True")}
        # they read the grid
        assert stale - new == {"validate", "summarize", "plot", "plot_classifiers", "report"}
    finally:
        (project / "params.yaml").write_text(original)


def test_classifier_edit_reruns_only_classification(project):
    sh("git", "add", "-A", cwd=project)  # earlier tests' results become the baseline
    sh("git", "commit", "-qm", "before the bandwidth edit", "--allow-empty", cwd=project)
    original = (project / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        params["classify"]["bandwidth"] = 1.0
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = stale_stages(project)
        assert stale == {"validate"} | {s for s in stale if s.startswith("classify_layers@")}
        assert len(stale) == 8 + 1
        ran = {name.split("@")[0] for name in ran_stages(project)}
        assert ran == {"validate", "classify_layers", "summarize", "plot_classifiers", "report"}
        diff = json.loads(sh("dvc", "metrics", "diff", "--json", cwd=project).stdout)
        changed = {key for path, values in diff.items() if "classify_layers" in path
                   for key in values}
        assert any(key.endswith(".continuous.mean") for key in changed)
        assert not any(key.endswith(".discrete.mean") for key in changed)  # no bandwidth there
        assert not any(path.startswith(("metrics/train/", "metrics/compute_metrics/"))
                       for path, values in diff.items() if values)
    finally:
        (project / "params.yaml").write_text(original)
        sh("dvc", "repro", cwd=project)  # back in step (from the run cache)

def test_analysis_and_extraction_edits_never_retrain(project):
    original = (project / "params.yaml").read_text()
    configs = 8
    try:
        params = yaml.safe_load(original)
        params["analysis"]["accuracy_target"] = 50.0
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = stale_stages(project)
        assert stale - {"validate"} == {s for s in stale if s.startswith("compute_metrics@")}
        assert len(stale) == configs + 1

        params["extract"]["samples_per_class"] = 5
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = stale_stages(project)
        kinds = {s.split("@")[0] for s in stale}
        assert kinds == {"validate", "extract_activations", "compute_metrics"}
        ran = {name.split("@")[0] for name in ran_stages(project)}
        assert "train" not in ran and "extract_activations" in ran
        labels = np.load(project / "data/extract_activations/digits-relu-d1-w8-bnfalse"
                         / "labels_train.npy")
        assert len(labels) == 50  # 5 per class
    finally:
        (project / "params.yaml").write_text(original)


def test_auto_learning_rate_is_searched_and_tuning_edits_retrain_only_searched(project):
    """relu's rate becomes `auto`: tune@relu searches, train@relu trains with its choice.
    A tune key edit then reruns every tune stage, but retrains no fixed-rate (sigmoid) net."""
    original = (project / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        params["train"]["lr"]["relu"] = "auto"
        params["tune"] = {"grid": [1.0, 0.01, 0.0001], "rounds": 2, "epochs": 1, "seeds": [0, 1]}
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        ran = ran_stages(project)
        assert {s for s in ran if s.startswith("train@")} == {
            f"train@digits-relu-{d}-8-{b}" for d in (1, 2) for b in ("False", "True")}
        assert len({s for s in ran if s.startswith("tune@")}) == 8  # all read the tune keys

        cid = "digits-relu-d2-w8-bnfalse"
        tuned = json.loads((project / f"metrics/tune/{cid}.json").read_text())
        table = pd.read_csv(project / f"data/tune/{cid}/search.csv")
        assert tuned["mode"] == "auto" and tuned["candidates"] == table["lr"].nunique()
        assert set(table["lr"][table["round"] == 1]) == {1.0, 0.01, 0.0001}
        assert len(table) == tuned["candidates"] * 2 and set(table["seed"]) == {0, 1}
        means = table.groupby("lr")["best_validation_acc"].mean()
        assert tuned["lr"] == means.idxmax()  # the best mean validation accuracy wins
        trained = json.loads((project / f"metrics/train/{cid}.json").read_text())
        assert trained["config"]["lr"] == tuned["lr"]  # training read the searched rate

        params["tune"]["epochs"] = 2
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = stale_stages(project)
        assert stale == {"validate"} | {s for s in stale if s.startswith("tune@")}
        assert len(stale) == 8 + 1  # every tune stage lists the tune keys
        ran = ran_stages(project)
        assert {s for s in ran if s.startswith("tune@")} == {s for s in stale if "@" in s}
        assert not any(s.startswith("train@") and "sigmoid" in s for s in ran)
        assert pd.read_csv(project / f"data/tune/{cid}/search.csv")["best_epoch"].max() <= 2
    finally:
        (project / "params.yaml").write_text(original)


def test_every_activation_runs_every_stage(tmp_path):
    """Each registered function through training, extraction, analyses and figures."""
    names = list(REGISTRY)
    ids = [f"digits-{name}-d1-w8-bnfalse" for name in names]
    project = make_project(tmp_path, {
        "grid": {**TINY["grid"], "activations": names, "depths": [1], "batchnorm": [False]},
        "train": {**TINY["train"], "epochs": 1, "snapshot_epochs": [],
                  "lr": {name: 0.01 for name in names}},
        "plots": {**TINY["plots"], "configs": ids}})
    assert stale_stages(project) == set()
    for cid in ids:
        nodes = json.loads((project / f"metrics/compute_metrics/{cid}.json").read_text())
        assert 0 <= nodes["states"]["best"]["train"]["layer_1"]["sparsity_pct"]["mean"] <= 100
        classify = json.loads((project / f"metrics/classify_layers/{cid}.json").read_text())
        assert 0 <= classify["states"]["best"]["test"]["layer_1"]["continuous"]["mean"] <= 100
        figures = {p.name for p in (project / f"plots/plot_activations/{cid}").glob("*.png")}
        assert len(figures) == 7 + ("prelu" in cid)
        assert ("prelu_slopes.png" in figures) == ("prelu" in cid)
    meta = json.loads((project / "data/extract_activations/digits-leaky_relu-d1-w8-bnfalse"
                       / "meta.json").read_text())
    assert meta["spec"]["shape"] == 0.01  # the shape parameter travels with the model
    slopes = np.load(project / "data/extract_activations/digits-prelu-d1-w8-bnfalse"
                     / "slopes_best.npy")
    assert slopes.shape == (1, 2, 8) and not np.allclose(slopes, 0.25)  # learned
