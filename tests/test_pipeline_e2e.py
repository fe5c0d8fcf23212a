"""End to end: the real dvc.yaml on a tiny grid in a temporary git repository.

`dvc repro`, then edits of single parameters (learning rate, grid, analysis, extraction,
classifier): only the stages that read them are stale, only they rerun, and
`dvc metrics diff` reports the change.

The tiny study's parameters are the tests' own (tiny_params.yaml), never the repository's
params.yaml. Its workspace is built and run once per session (`baseline`, in conftest.py);
every test gets its own copy of it (`project`), so a test edits and reruns alone, in any order.
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

from activation_study.activations._catalogue import catalogue
from activation_study.pipeline.dag import plain_name

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")

pytestmark = pytest.mark.e2e
IDS = [f"digits-{a}-d{d}-w8-bn{b}" for a in ("relu", "sigmoid") for d in (1, 2)
       for b in ("false", "true")]
OVERVIEW = ["validation accuracy per epoch", "training accuracy per epoch",
            "trained sparsity per layer", "layer classifiers, test accuracy per layer"]


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def tiny_params() -> dict:
    """A fresh copy of the tests' own parameters, for a test to derive its variant from."""
    return yaml.safe_load(TINY_PARAMS.read_text())


def read_params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())


def write_params(project: Path, params: dict) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(project: Path, params: dict) -> Path:
    """A copy of the repository's code (no results) with ``params``, after one `dvc repro`."""
    init_project(project, params)
    sh("dvc", "repro", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "results", cwd=project)
    return project


def init_project(project: Path, params: dict) -> Path:
    """A git repository with a copy of the repository's code (no results) and ``params``."""
    files = sh("git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout
    for rel in files.split():
        if rel.split("/")[0] in ("data", "metrics", "plots") or rel.endswith("dvc.lock"):
            continue
        if (ROOT / rel).is_file():
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, project / rel)
    write_params(project, params)
    sh("git", "init", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "tiny study", cwd=project)
    return project


def stale_stages(project: Path) -> set[str]:
    """The stale stages' names (``train@...``, without the dvc.yaml that defines them)."""
    return {plain_name(name) for name in json.loads(sh("dvc", "status", "--json",
                                                       cwd=project).stdout)}


def ran_stages(project: Path) -> set[str]:
    out = sh("dvc", "repro", cwd=project).stdout
    return {plain_name(line.split("'")[1]) for line in out.splitlines()
            if line.startswith("Running stage")}


def test_a_copy_of_the_baseline_is_in_step_and_independent_of_it(baseline, project):
    """DVC and git see the copy as they see the baseline, and nothing in it points back."""
    assert stale_stages(project) == set()
    assert sh("git", "status", "--porcelain", cwd=project).stdout == ""
    files = [path for path in project.rglob("*") if not path.is_dir()]
    assert not [path for path in files if path.is_symlink()]
    assert not [path for path in files if str(baseline).encode() in path.read_bytes()]


def test_repro_produces_every_output(project):
    assert stale_stages(project) == set()
    ids = IDS
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
    # the declared metrics: the headline of every configuration, nothing else
    headline = json.loads((project / "metrics/summarize/headline.json").read_text())
    assert sorted(headline) == sorted(ids)
    first = headline["digits-relu-d2-w8-bnfalse"]
    assert set(first) == {"lr", "test_acc", "validation_acc", "generalisation_gap", "best_epoch",
                          "sparsity_pct", "network_dead_pct", "continuous_test_acc"}
    assert set(first["sparsity_pct"]) == {"layer_1", "layer_2"}
    assert set(first["continuous_test_acc"]) == {"layer_2"}  # the last hidden layer
    detail = json.loads((project / "metrics/train/digits-relu-d2-w8-bnfalse.json").read_text())
    assert first["test_acc"] == {k: detail["test_acc"][k] for k in ("mean", "se")}
    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=project).stdout)
    assert "metrics/summarize/headline.json" in json.dumps(shown)
    assert '"metrics/train/' not in json.dumps(shown)  # detail files are plain outputs
    for name in ("learning_curves", "layer_sparsity", "layer_classifiers"):
        table = pd.read_csv(project / f"plots/summarize/{name}.csv")
        assert set(table["config"]) == set(ids)
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
    # report.wall_times off: the run logs are written, but stay out of the tracked report
    assert "### Wall time per stage" not in report
    assert "numeric environment: portable CPU numerics (x86-64-v3), 1 thread, CPU" in report
    assert (project / "logs/timing/train/digits-relu-d2-w8-bnfalse.json").is_file()
    # datasets and models live in the DVC cache, never in git
    assert sh("git", "check-ignore", "-q", f"data/train/{ids[0]}/models.pt", cwd=project)
    tracked = sh("git", "ls-files", cwd=project).stdout.split()
    assert not [f for f in tracked if f.startswith(("data/", "logs/")) and f != "data/.gitkeep"]


def test_learning_rate_edit_reruns_only_its_stages(project):
    params = read_params(project)
    params["train"]["lr"]["sigmoid"] = 0.03
    write_params(project, params)
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
    assert set(diff) == {"metrics/summarize/headline.json"}  # the only declared metrics
    changed = set(diff["metrics/summarize/headline.json"])
    assert {"digits-sigmoid-d1-w8-bnfalse.lr", "digits-sigmoid-d2-w8-bnfalse.test_acc.mean",
            "digits-sigmoid-d2-w8-bnfalse.sparsity_pct.layer_2.mean"} <= changed
    assert all(key.startswith("digits-sigmoid-") for key in changed)  # relu did not move
    assert len(changed) <= 4 * 8 + 2 * (1 + 2)  # 8 + depth headline numbers a configuration

    # compare: the same change, each side's mean ± s.e. over seeds and a noise verdict
    text = sh("python", "-m", "activation_study.results.compare", "--md", cwd=project).stdout
    assert text.startswith("## Results: A = HEAD")
    assert "| digits-sigmoid-d1-w8-bnfalse" in text and "digits-relu" not in text
    assert "learning rate" in text and "× 3" in text  # 0.01 -> 0.03
    assert "seed noise" in text
    # the overview charts overlay both revisions
    overlaid = json.loads(sh("dvc", "plots", "diff", "HEAD", "--json", cwd=project).stdout)
    values = overlaid["data"][OVERVIEW[0]][0]["content"]["data"]["values"]
    assert {v["rev"] for v in values} == {"HEAD", "workspace"}
    assert {v["config"] for v in values if v["rev"] == "HEAD"} == set(IDS)


def test_batch_larger_than_training_set_is_refused_before_training(project):
    params = read_params(project)
    params["train"]["batch_size"] = 5000
    write_params(project, params)
    proc = sh("python", "-m", "stages.train", "--config", "digits-relu-d1-w8-bnfalse",
              cwd=project, check=False)
    assert proc.returncode == 2
    assert "train.batch_size" in proc.stderr and "training samples" in proc.stderr


def test_any_edit_of_params_yaml_reruns_validate_which_names_what_dvc_cannot_see(project):
    """DVC tracks only the keys stages list: a misspelt group, or a rate PyYAML reads as a
    string while DVC reads the same float, changes no listed key. validate depends on the
    whole file, so it runs and refuses them by name."""
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text + "clasify:\n  bandwidth: 0.5\n")
    assert stale_stages(project) == {"validate"}
    proc = sh("dvc", "repro", cwd=project, check=False)
    assert proc.returncode != 0
    assert "unknown key 'clasify'; did you mean 'classify'?" in proc.stdout + proc.stderr
    # DVC removed validate's marker before running it: restore the workspace
    (project / "params.yaml").write_text(text)
    sh("dvc", "checkout", cwd=project)
    assert stale_stages(project) == set()
    rate = read_params(project)["train"]["lr"]["relu"]
    (project / "params.yaml").write_text(text.replace(f"relu: {rate}", "relu: 1e-2", 1))
    assert float("1e-2") == rate  # DVC (YAML 1.2) sees no change of train.lr.relu
    assert stale_stages(project) == {"validate"}
    proc = sh("dvc", "repro", cwd=project, check=False)
    assert proc.returncode != 0 and "'train.lr.relu' = '1e-2'" in proc.stdout + proc.stderr
    assert "write 1.0e-2" in proc.stdout + proc.stderr
    assert not list((project / "data/train").glob(".*.tmp"))  # nothing ran past validate


def test_new_depth_adds_stages(project):
    params = read_params(project)
    params["grid"]["depths"] = [1, 2, 3]
    write_params(project, params)
    stale = stale_stages(project)
    new = {s for s in stale if "@" in s}
    assert new == {f"{stage}@digits-{a}-3-8-{b}"
                   for stage in ("tune", "train", "extract_activations",
                                 "compute_metrics", "classify_layers")
                   for a in ("relu", "sigmoid") for b in ("False", "True")}
    # they read the grid
    assert stale - new == {"validate", "summarize", "plot", "plot_classifiers", "report"}


def test_classifier_edit_reruns_only_classification(project):
    params = read_params(project)
    params["classify"]["bandwidth"] = 1.0
    write_params(project, params)
    stale = stale_stages(project)
    assert stale == {"validate"} | {s for s in stale if s.startswith("classify_layers@")}
    assert len(stale) == 8 + 1
    ran = {name.split("@")[0] for name in ran_stages(project)}
    assert ran == {"validate", "classify_layers", "summarize", "plot_classifiers", "report"}
    # against the committed baseline (HEAD): only the continuous system's headline moves
    diff = json.loads(sh("dvc", "metrics", "diff", "--json", cwd=project).stdout)
    changed = set(diff.get("metrics/summarize/headline.json", {}))
    assert changed and all(".continuous_test_acc." in key for key in changed)
    # and in the detail, every continuous mean may move, no discrete one (no bandwidth there)
    cid = "digits-relu-d2-w8-bnfalse"
    before = json.loads(sh("git", "show", f"HEAD:metrics/classify_layers/{cid}.json",
                           cwd=project).stdout)["states"]["best"]["test"]
    after = json.loads((project / f"metrics/classify_layers/{cid}.json").read_text()
                       )["states"]["best"]["test"]
    assert all(before[k]["discrete"] == after[k]["discrete"] for k in ("layer_1", "layer_2"))
    assert any(before[k]["continuous"] != after[k]["continuous"] for k in ("layer_1", "layer_2"))


def test_analysis_and_extraction_edits_never_retrain(project):
    configs = 8
    params = read_params(project)
    params["analysis"]["accuracy_target"] = 50.0
    write_params(project, params)
    stale = stale_stages(project)
    assert stale - {"validate"} == {s for s in stale if s.startswith("compute_metrics@")}
    assert len(stale) == configs + 1

    params["extract"]["samples_per_class"] = 5
    write_params(project, params)
    stale = stale_stages(project)
    kinds = {s.split("@")[0] for s in stale}
    assert kinds == {"validate", "extract_activations", "compute_metrics"}
    ran = {name.split("@")[0] for name in ran_stages(project)}
    assert "train" not in ran and "extract_activations" in ran
    labels = np.load(project / "data/extract_activations/digits-relu-d1-w8-bnfalse"
                     / "labels_train.npy")
    assert len(labels) == 50  # 5 per class


def test_auto_learning_rate_is_searched_and_tuning_edits_retrain_only_searched(project):
    """relu's rate becomes `auto`: tune@relu searches, train@relu trains with its choice.
    A tune key edit then reruns every tune stage, but retrains no fixed-rate (sigmoid) net."""
    params = read_params(project)
    params["train"]["lr"]["relu"] = "auto"
    params["tune"] = {"grid": [0.1, 0.01, 0.0001], "rounds": 2, "epochs": 1, "seeds": [0, 1]}
    write_params(project, params)
    ran = ran_stages(project)
    assert {s for s in ran if s.startswith("train@")} == {
        f"train@digits-relu-{d}-8-{b}" for d in (1, 2) for b in ("False", "True")}
    assert len({s for s in ran if s.startswith("tune@")}) == 8  # all read the tune keys

    cid = "digits-relu-d2-w8-bnfalse"
    tuned = json.loads((project / f"metrics/tune/{cid}.json").read_text())
    table = pd.read_csv(project / f"data/tune/{cid}/search.csv")
    assert tuned["mode"] == "auto" and tuned["candidates"] == table["lr"].nunique()
    assert set(table["lr"][table["round"] == 1]) == {0.1, 0.01, 0.0001}
    assert len(table) == tuned["candidates"] * 2 and set(table["seed"]) == {0, 1}
    means = table.groupby("lr")["best_validation_acc"].mean()
    assert tuned["lr"] == means.idxmax()  # the best mean validation accuracy wins
    trained = json.loads((project / f"metrics/train/{cid}.json").read_text())
    assert trained["config"]["lr"] == tuned["lr"]  # training read the searched rate

    params["tune"]["epochs"] = 2
    write_params(project, params)
    stale = stale_stages(project)
    assert stale == {"validate"} | {s for s in stale if s.startswith("tune@")}
    assert len(stale) == 8 + 1  # every tune stage lists the tune keys
    ran = ran_stages(project)
    assert {s for s in ran if s.startswith("tune@")} == {s for s in stale if "@" in s}
    assert not any(s.startswith("train@") and "sigmoid" in s for s in ran)
    assert pd.read_csv(project / f"data/tune/{cid}/search.csv")["best_epoch"].max() <= 2


# every activation file, in two halves: two workspaces that pytest-xdist runs side by side
ACTIVATION_HALVES = (list(catalogue())[::2], list(catalogue())[1::2])


def plotted_ids(names: list[str]) -> list[str]:
    """The networks drawn in an every-activation study: the ReLU family (prelu: its slopes)."""
    return [f"digits-{name}-d1-w8-bnfalse" for name in names if name.endswith("relu")]


def activation_study_params(names: list[str]) -> dict:
    """The tiny study with ``names`` as its activations, on digits 1x8 without batch norm,
    one epoch at a fixed rate of 0.01."""
    params = tiny_params()
    params["grid"].update(activations=names, depths=[1], batchnorm=[False])
    params["train"].update(epochs=1, snapshot_epochs=[])  # every rate: fixed, 0.01
    params["plots"]["configs"] = plotted_ids(names)
    return params


def test_every_activation_runs_every_stage(every_activation):
    """Each function of activation_study/activations/ through training, extraction, analyses
    and figures (half of them in each of the two parametrisations of the fixture)."""
    project, names = every_activation
    ids = [f"digits-{name}-d1-w8-bnfalse" for name in names]
    plotted = plotted_ids(names)
    assert plotted  # each half draws at least one network
    assert stale_stages(project) == set()
    for cid in ids:
        nodes = json.loads((project / f"metrics/compute_metrics/{cid}.json").read_text())
        assert 0 <= nodes["states"]["best"]["train"]["layer_1"]["sparsity_pct"]["mean"] <= 100
        classify = json.loads((project / f"metrics/classify_layers/{cid}.json").read_text())
        assert 0 <= classify["states"]["best"]["test"]["layer_1"]["continuous"]["mean"] <= 100
    for cid in plotted:  # the figures draw any activation alike; prelu adds its slopes
        figures = {p.name for p in (project / f"plots/plot_activations/{cid}").glob("*.png")}
        assert len(figures) == 7 + ("prelu" in cid)
        assert ("prelu_slopes.png" in figures) == ("prelu" in cid)
    if "leaky_relu" in names:
        meta = json.loads((project / "data/extract_activations/digits-leaky_relu-d1-w8-bnfalse"
                           / "meta.json").read_text())
        assert meta["spec"]["shape"] == 0.01  # the shape parameter travels with the model
    if "prelu" in names:
        slopes = np.load(project / "data/extract_activations/digits-prelu-d1-w8-bnfalse"
                         / "slopes_best.npy")
        assert slopes.shape == (1, 2, 8) and not np.allclose(slopes, 0.25)  # learned


def test_plots_open_with_overview_charts_holding_every_configuration(project):
    """`dvc plots show`: the four overview charts first, each with every configuration of the
    grid; then only the plot stages' figures (the learning-rate test checks `dvc plots diff`)."""
    ids = set(IDS)
    charts = json.loads(sh("dvc", "plots", "show", "--json", cwd=project).stdout)["data"]
    names = list(charts)
    assert names[:4] == OVERVIEW
    for name in OVERVIEW:
        values = charts[name][0]["content"]["data"]["values"]
        assert {v["config"] for v in values} == ids, name
    assert all(name.endswith(".png") for name in names[4:])  # no per-configuration charts
