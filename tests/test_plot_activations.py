"""Stage plot_activations on tiny synthetic inputs in the formats of extract_activations and
compute_metrics: every figure written, the chosen seed drawn, missing inputs and bad params
named."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from activation_study.figures import config_figures
from activation_study.network.model import get_activation
from activation_study.params.validated import ParamError
from stages import plot_activations

ROOT = Path(__file__).resolve().parents[1]
DEPTH, WIDTH, SEEDS, SAMPLES, CLASSES = 3, 12, 2, 60, 10
STATES = ("initial", "epoch1", "best")
DEAD = (1, 5)  # (layer, node) dead in the trained network
EXPECTED = {"histograms_initial.png", "histograms_best.png", "class_medians.png",
            "class_medians_pre.png", "node_activity.png", "class_activity_heatmap.png",
            "activation_probability_sorted.png"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def node_metrics(pre: np.ndarray, labels: np.ndarray, activation: str) -> dict[str, np.ndarray]:
    """The compute_metrics arrays of one state and set: (L, S, C, W) per class, (L, S, W)."""
    act = get_activation(activation)
    values = act.fn(torch.from_numpy(pre)).numpy()
    on = values > act.on_threshold
    low, high = act.band

    def per_class(x: np.ndarray, reduce) -> np.ndarray:
        empty = np.full(x.shape[:2] + x.shape[3:], np.nan)
        return np.stack([reduce(x[:, :, labels == c], axis=2) if (labels == c).any() else empty
                         for c in range(CLASSES)], axis=2)

    return {"pre_median": per_class(pre, np.median), "pre_std": per_class(pre, np.std),
            "act_median": per_class(values, np.median), "act_std": per_class(values, np.std),
            "activity_per_class": per_class(on.astype(float), np.mean),
            "activity": on.mean(axis=2), "dead": ~on.any(axis=2),
            "activation_probability": ((values > low) & (values < high)).mean(axis=2)}


def write_inputs(root: Path, activation: str = "relu", sets: tuple[str, ...] = ("train", "test"),
                 cid: str | None = None) -> str:
    """extract_activations and compute_metrics folders of one tiny configuration.

    Class-dependent pre-activation means that grow with training; node DEAD is negative
    for every sample of the trained network; class 9 has no samples (NaN class medians)
    and one activation probability is NaN.
    """
    cid = cid or f"mnist5k-{activation}-d{DEPTH}-w{WIDTH}-bnfalse"
    extract = root / "data/extract_activations" / cid
    metrics = root / "data/compute_metrics" / cid
    extract.mkdir(parents=True)
    metrics.mkdir(parents=True)
    rng = np.random.default_rng(0)
    spec = {"input_dim": 64, "depth": DEPTH, "width": WIDTH, "batchnorm": False,
            "activation": activation, "num_classes": CLASSES}
    meta = {"spec": spec, "seeds": [3, 7], "states": list(STATES), "sets": list(sets),
            "dtype": "float16"}
    (extract / "meta.json").write_text(json.dumps(meta))
    centres = rng.normal(0, 1, (DEPTH, SEEDS, CLASSES, WIDTH))
    for part in sets:
        labels = rng.integers(0, CLASSES - 1, SAMPLES)  # class 9 absent
        np.save(extract / f"labels_{part}.npy", labels.astype(np.int64))
        for step, state in enumerate(STATES):
            noise = rng.normal(0, 1, (DEPTH, SEEDS, SAMPLES, WIDTH))
            pre = (step * centres[:, :, labels] + noise).astype(np.float16)
            if state == "best":
                pre[DEAD[0], :, :, DEAD[1]] = -np.abs(pre[DEAD[0], :, :, DEAD[1]]) - 8
            np.save(extract / f"pre_{state}_{part}.npy", pre)
            arrays = node_metrics(pre.astype(np.float32), labels, activation)
            arrays["activation_probability"][0, 0, 0] = np.nan
            for key, values in arrays.items():
                np.save(metrics / f"{state}_{part}_{key}.npy", values)
    return cid


def write_params(root: Path, plots: dict) -> None:
    """The tests' own parameters, with a grid holding the configurations drawn here."""
    params = yaml.safe_load((ROOT / "tests/tiny_params.yaml").read_text())
    params["grid"].update(datasets=["mnist5k"], depths=[DEPTH, 2], widths=[WIDTH, 8])
    configs = [f"mnist5k-{a}-d{DEPTH}-w{WIDTH}-bnfalse" for a in ("relu", "sigmoid")]
    params["plots"] = {"configs": [*configs, "mnist5k-relu-d2-w8-bntrue"], **plots}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run_stage(monkeypatch, root: Path, cid: str) -> None:
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["plot_activations", "--config", cid])
    plot_activations.main()


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert 5_000 < len(data) < 250_000, (path, len(data))
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width >= 500 and image.height >= 300, (path, image.size)


@pytest.mark.parametrize(("activation", "sets"),
                         [("relu", ("train", "test")), ("sigmoid", ("train",))])
def test_stage_writes_every_figure(tmp_path, monkeypatch, capsys, activation, sets):
    cid = write_inputs(tmp_path, activation, sets)
    write_params(tmp_path, {"seed_index": 0, "hist_nodes": 2})
    run_stage(monkeypatch, tmp_path, cid)
    out = tmp_path / "plots/plot_activations" / cid
    assert {p.name for p in out.iterdir()} == EXPECTED
    for path in out.iterdir():
        assert_png(path)
    printed = set(capsys.readouterr().out.split())
    assert printed == {f"plots/plot_activations/{cid}/{name}" for name in EXPECTED}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_write_config_figures_draws_the_chosen_seed(tmp_path, monkeypatch):
    cid = write_inputs(tmp_path)
    metrics = tmp_path / "data/compute_metrics" / cid
    drawn = {}

    def record(name):
        def draw(*args, **kwargs):
            drawn[name] = args
            return original[name](*args, **kwargs)
        return draw

    original = {name: getattr(config_figures, name)
                for name in ("node_activity_figure", "histogram_figure")}
    for name in original:
        monkeypatch.setattr(config_figures, name, record(name))
    monkeypatch.setattr(config_figures, "save_png", lambda fig, path, dpi: path)  # no rendering
    written = config_figures.write_config_figures(
        tmp_path / "data/extract_activations" / cid, metrics, tmp_path / "figures",
        seed_index=1, hist_nodes=3)
    assert {p.name for p in written} == EXPECTED
    rows = drawn["node_activity_figure"][0]
    assert list(rows) == ["trained,\ntraining set", "trained,\ntest set",
                          "untrained,\ntraining set"]
    np.testing.assert_array_equal(rows["trained,\ntest set"][0],
                                  np.load(metrics / "best_test_activity.npy")[:, 1])
    assert rows["trained,\ntraining set"][1][DEAD]  # the dead node is marked
    pre, _, nodes, activation, num_classes, title = drawn["histogram_figure"]
    assert pre.shape == (DEPTH, SAMPLES, WIDTH) and activation == "relu" and num_classes == 10
    assert sorted(nodes) == [0, 1, 2] and all(len(n) == 3 for n in nodes.values())
    assert DEAD[1] not in nodes[DEAD[0]]  # live nodes are shown first
    assert title.startswith(f"{cid}, seed 7\n")


@pytest.mark.parametrize(("removed", "stage"), [
    ("data/compute_metrics/{cid}/best_train_activity.npy",
     "compute_metrics@mnist5k-relu-3-12-False"),
    ("data/extract_activations/{cid}/pre_initial_train.npy",
     "extract_activations@mnist5k-relu-3-12-False"),
    ("data/compute_metrics/{cid}/initial_test_activation_probability.npy",
     "compute_metrics@mnist5k-relu-3-12-False"),
])
def test_missing_input_names_file_and_stage(tmp_path, monkeypatch, removed, stage):
    cid = write_inputs(tmp_path)
    write_params(tmp_path, {"seed_index": 0, "hist_nodes": 2})
    (tmp_path / removed.format(cid=cid)).unlink()
    with pytest.raises(ParamError) as error:
        run_stage(monkeypatch, tmp_path, cid)
    assert removed.format(cid=cid) in str(error.value)
    kind = stage.split("@")[0]  # a per-configuration stage is named with its dvc.yaml
    assert f"dvc repro pipelines/{kind}/dvc.yaml:{stage}" in str(error.value)
    assert not (tmp_path / "plots/plot_activations" / cid).exists()


def test_missing_configuration_names_meta_json(tmp_path, monkeypatch):
    write_params(tmp_path, {"seed_index": 0, "hist_nodes": 2})
    with pytest.raises(ParamError, match=r"extract_activations/mnist5k-relu-d2-w8-bntrue/meta"
                                         r"\.json is missing.*extract_activations@mnist5k-relu"
                                         r"-2-8-True"):
        run_stage(monkeypatch, tmp_path, "mnist5k-relu-d2-w8-bntrue")


def test_cli_exits_2_with_the_missing_file(tmp_path):
    cid = write_inputs(tmp_path)
    write_params(tmp_path, {"seed_index": 0, "hist_nodes": 2})
    (tmp_path / f"data/compute_metrics/{cid}/best_train_dead.npy").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "stages.plot_activations", "--config", cid],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "best_train_dead.npy is missing" in done.stderr


@pytest.mark.parametrize(("plots", "message"), [
    ({"hist_nodes": 2}, "missing key 'plots.seed_index'"),
    ({"seed_index": 0}, "missing key 'plots.hist_nodes'"),
    ({"seed_index": 2, "hist_nodes": 2}, "'plots.seed_index' = 2"),
    ({"seed_index": -1, "hist_nodes": 2}, "'plots.seed_index' = -1"),
    ({"seed_index": 0, "hist_nodes": 0}, "'plots.hist_nodes' = 0"),
])
def test_bad_or_missing_params_raise(tmp_path, monkeypatch, plots, message):
    cid = write_inputs(tmp_path)
    write_params(tmp_path, plots)
    with pytest.raises(ParamError, match=message):
        run_stage(monkeypatch, tmp_path, cid)


@pytest.mark.parametrize(("cid", "message"), [
    ("mnist5k-relu-2-8-True", "is not a configuration of the grid"),  # not an id
    ("../../x", "is not a configuration of the grid"),
    ("mnist5k-relu-d9-w8-bntrue", "is not a configuration of the grid"),
    ("mnist5k-relu-d2-w8-bnfalse", "is not one of plots.configs"),  # in the grid, not drawn
])
def test_a_configuration_outside_the_grid_or_plots_is_refused(tmp_path, monkeypatch, cid,
                                                             message):
    write_params(tmp_path, {"seed_index": 0, "hist_nodes": 2})
    with pytest.raises(ParamError, match=f"--config '{re.escape(cid)}' {message}"):
        run_stage(monkeypatch, tmp_path, cid)
