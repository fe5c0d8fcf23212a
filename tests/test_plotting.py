"""The plot stage on a tiny synthetic grid: the expected PNGs, errors for missing inputs,
stale files ignored, and the paper's colours and layout in the figures."""

import importlib
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.colors import to_hex
from matplotlib.image import imread

from activation_study.common.configs import config_id
from activation_study.figures import curves as plotting
from activation_study.params.validated import ParamError

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
GRID = {"datasets": ["mnist5k"], "activations": ["relu", "sigmoid"], "depths": [1, 2],
        "widths": [8], "batchnorm": [False, True]}
STALE = [("mnist5k", "tanh", 1, 8, False), ("digits", "relu", 1, 8, False),
         ("mnist5k", "relu", 1, 50, False)]
EXPECTED = {"learning_curves_mnist5k_w8.png", "test_accuracy_vs_depth_mnist5k.png",
            "sparsity_dead_nodes_mnist5k.png"}
CSV_COLUMNS = ["epoch", "train_loss", "train_loss_se", "train_acc", "train_acc_se",
               "validation_loss", "validation_loss_se", "validation_acc", "validation_acc_se",
               "test_acc", "test_acc_se"]
EPOCHS = 6


def curve_csv(rate: float) -> pd.DataFrame:
    """Accuracy rising from 10% towards 95% (validation) and 99% (train), loss falling."""
    epoch = np.arange(EPOCHS + 1)
    rise = 1 - np.exp(-rate * epoch)
    values = {"epoch": epoch,
              "train_loss": 2.3 * (1 - rise), "train_acc": 10 + 89 * rise,
              "validation_loss": 2.3 * (1 - 0.9 * rise), "validation_acc": 10 + 85 * rise,
              "test_acc": 10 + 84 * rise}
    frame = pd.DataFrame(values)
    for col in CSV_COLUMNS[1::2]:
        frame[f"{col}_se"] = 0.5 + 0.1 * epoch
    return frame[CSV_COLUMNS]


def write_config(root: Path, dataset: str, activation: str, depth: int, width: int,
                 batchnorm: bool) -> str:
    cid = config_id(dataset, activation, depth, width, batchnorm)
    rate = (0.9 if activation == "relu" else 0.4) * (1.5 if batchnorm else 1) / depth
    curve_csv(rate).round(4).to_csv(root / "plots/train" / f"{cid}.csv", index=False)
    acc = {"mean": 90.0 + depth + (2 if activation == "relu" else 0), "se": 0.3}
    metrics = {"config": {"id": cid}, "seeds": [0, 1], "test_acc": acc, "validation_acc": acc,
               "train_acc": acc, "generalisation_gap": acc, "best_epoch": acc, "per_seed": {}}
    (root / "metrics/train" / f"{cid}.json").write_text(json.dumps(metrics))
    layer = {"sparsity_pct": {"mean": 60.0 + depth, "se": 1.0},
             "dead_pct": {"mean": 2.0 * depth, "se": None}}
    states = {state: {"train": {f"layer_{k}": layer for k in range(1, depth + 1)}
                      | {"network": {"dead_pct": layer["dead_pct"]}}}
              for state in ("initial", "best")}
    (root / "metrics/compute_metrics" / f"{cid}.json").write_text(json.dumps({"states": states}))
    return cid


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """params.yaml with the tiny grid, every grid input, stale inputs and an old figure."""
    params = yaml.safe_load(TINY_PARAMS.read_text())
    params["grid"] = GRID
    params["plots"]["configs"] = []  # the figures of plot need none; ids must be of the grid
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for folder in ("plots/train", "metrics/train", "metrics/compute_metrics", "plots/plot"):
        (tmp_path / folder).mkdir(parents=True)
    for dataset in GRID["datasets"]:
        for activation in GRID["activations"]:
            for depth in GRID["depths"]:
                for width in GRID["widths"]:
                    for bn in GRID["batchnorm"]:
                        write_config(tmp_path, dataset, activation, depth, width, bn)
    for stale in STALE:
        write_config(tmp_path, *stale)
    (tmp_path / "plots/plot/test_accuracy_vs_depth_cifar10.png").write_bytes(b"old figure")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    return tmp_path


def stage():
    return importlib.import_module("stages.plot")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_stage_writes_the_figures(project):
    stage().main()
    folder = project / "plots/plot"
    assert {p.name for p in folder.iterdir()} == EXPECTED  # old figure gone, none for stale
    for name in EXPECTED:
        width, height = png_size(folder / name)
        assert 700 <= width <= 1400 and 450 <= height <= 1000, (name, width, height)
        pixels = imread(folder / name)
        assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05  # not blank


def test_stale_files_are_not_plotted(project):
    curves, results = stage().read_inputs(stage().grid_configs(GRID))
    for frame in (curves, results):
        assert set(frame["activation"]) == {"relu", "sigmoid"}
        assert set(frame["dataset"]) == {"mnist5k"} and set(frame["width"]) == {8}
    assert len(results) == 8 and len(curves) == 8 * (EPOCHS + 1)


def test_missing_input_names_file_and_stage(project):
    cid = config_id("mnist5k", "sigmoid", 2, 8, True)
    (project / "metrics/train" / f"{cid}.json").unlink()
    with pytest.raises(ParamError) as error:
        stage().main()
    message = str(error.value)
    assert f"metrics/train/{cid}.json is missing" in message
    assert "dvc repro pipelines/train/dvc.yaml:train@mnist5k-sigmoid-2-8-True" in message
    assert "relu" not in message  # only the missing configuration is listed


def test_missing_input_exits_2_from_the_command_line(project):
    cid = config_id("mnist5k", "relu", 1, 8, False)
    (project / "plots/train" / f"{cid}.csv").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "stages.plot"], cwd=project, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert re.search(rf"error: .*plots/train/{cid}\.csv is missing", proc.stderr, re.S)
    assert (project / "plots/plot/test_accuracy_vs_depth_cifar10.png").is_file()  # untouched


def test_curve_file_without_a_column_is_named(project):
    path = project / "plots/train" / f"{config_id('mnist5k', 'relu', 2, 8, True)}.csv"
    pd.read_csv(path).drop(columns="validation_acc_se").to_csv(path, index=False)
    with pytest.raises(ParamError, match=rf"{re.escape(str(path.relative_to(project)))}: "
                                         r"no column validation_acc_se"):
        stage().main()


def test_learning_curves_layout_and_colours(project):
    curves, _ = stage().read_inputs(stage().grid_configs(GRID))
    fig = plotting.learning_curves_figure(curves, "mnist5k", 8)
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes[:2]] == ["depth 1", "depth 2"]
    assert axes[0].get_ylabel().startswith("no batch norm")
    assert axes[2].get_ylabel().startswith("batch norm")
    legend = {t.get_text(): to_hex(h.get_color())
              for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles,
                              strict=True) if t.get_text() != "± 1 s.e."}
    assert legend == {"relu train": to_hex("tab:blue"), "sigmoid train": to_hex("tab:red"),
                      "relu validation": to_hex("tab:green"),
                      "sigmoid validation": to_hex("tab:orange")}
    assert all(len(ax.get_lines()) == 4 for ax in axes)  # 2 activations x train/validation
    assert all(line.get_xdata().min() == 1 for line in axes[0].get_lines())  # epoch 0 dropped
    bottom, top = axes[0].get_ylim()
    later = curves.loc[curves["epoch"] >= 1, "validation_acc"]
    assert 0 <= bottom < later.min() and 100 <= top < 105


def test_accuracy_vs_depth_handles_missing_se(project):
    _, results = stage().read_inputs(stage().grid_configs(GRID))
    results["test_acc_se"] = np.nan  # one seed: no standard error
    fig = plotting.accuracy_vs_depth_figure(results, "mnist5k")
    (ax,) = fig.axes
    assert ax.get_title() == "width 8" and "over 2 seeds" in fig.get_suptitle()
    assert len(ax.containers) == 4  # activation x batch norm
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == [
        "relu, batch norm", "relu, no batch norm", "sigmoid, batch norm",
        "sigmoid, no batch norm"]
    with pytest.raises(ValueError, match="cifar10"):
        plotting.accuracy_vs_depth_figure(results, "cifar10")
