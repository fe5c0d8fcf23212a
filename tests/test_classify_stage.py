"""classify_layers@CONFIG and plot_classifiers: layer reaching the network, systems, figures."""

import pandas as pd
import pytest

from activation_study.figures.classifiers import layers_figure, write_classifier_figures
from activation_study.results.tables import accuracy_table
from stages.classify_layers import reaches_network, systems_for


def scalars(per_seed: list[float]) -> dict:
    return {"mean": sum(per_seed) / len(per_seed), "se": 0.5, "per_seed": per_seed}


def test_systems_follow_the_registry():
    assert systems_for("relu") == ("discrete", "continuous", "combined")
    assert systems_for("sigmoid") == ("discrete", "continuous")
    assert systems_for("tanh") == ("discrete", "continuous")
    assert systems_for("leaky_relu") == ("discrete", "continuous")


def test_first_layer_within_tolerance_of_the_network():
    layers = {"layer_1": {"discrete": scalars([80.0, 90.0])},
              "layer_2": {"discrete": scalars([96.0, 93.0])},
              "layer_3": {"discrete": scalars([97.5, 97.0])}}
    network = scalars([98.0, 97.0])  # mean 97.5
    result = reaches_network(layers, network, ("discrete",), tolerance=1.0)
    assert result["discrete"]["of_mean"] == 3  # means 85, 94.5, 97.25 against 96.5
    assert result["discrete"]["per_seed"] == [3, 3]  # seed 0 needs 97, seed 1 needs 96
    assert reaches_network(layers, network, ("discrete",), 4.0)["discrete"] == {
        "of_mean": 2, "per_seed": [2, 2]}
    never = reaches_network(layers, scalars([100.0, 100.0]), ("discrete",), 0.0)
    assert never["discrete"] == {"of_mean": None, "per_seed": [None, None]}


def metrics_for(depth: int, systems: list[str]) -> dict:
    def part(offset: float) -> dict:
        values = {f"layer_{k}": {s: scalars([60.0 + 10 * k + offset, 61.0 + 10 * k + offset])
                                 for s in systems} for k in range(1, depth + 1)}
        return values | {"network": scalars([95.0, 96.0])}

    return {"systems": systems, "states": {state: {"train": part(2.0), "test": part(0.0)}
                                           for state in ("initial", "epoch1", "best")}}


@pytest.fixture
def frame() -> pd.DataFrame:
    configs, metrics = [], {}
    for activation, systems in (("relu", ["discrete", "continuous", "combined"]),
                                ("sigmoid", ["discrete", "continuous"])):
        for depth in (1, 3):
            cid = f"digits-{activation}-d{depth}-w8-bnfalse"
            configs.append({"id": cid, "dataset": "digits", "activation": activation,
                            "depth": depth, "width": 8, "batchnorm": False})
            metrics[cid] = metrics_for(depth, systems)
    return accuracy_table(metrics, configs)


def test_accuracy_table_is_long_and_complete(frame):
    # per config: 3 states x 2 sets x (layers x systems + network)
    expected = 3 * 2 * ((1 * 3 + 1) + (3 * 3 + 1) + (1 * 2 + 1) + (3 * 2 + 1))
    assert len(frame) == expected
    row = frame[(frame["config"] == "digits-relu-d3-w8-bnfalse") & (frame["state"] == "best")
                & (frame["set"] == "test") & (frame["system"] == "combined")
                & (frame["layer"] == 2)]
    assert row["mean"].tolist() == [80.5]


def test_layers_figure_has_a_column_per_depth_and_a_row_per_set(frame):
    fig = layers_figure(frame, "digits", "relu", 8, False)
    panels = [ax for ax in fig.axes if ax.get_title() or ax.get_ylabel() or ax.get_xlabel()]
    assert len(fig.axes) == 4 and len(panels) == 4
    titles = [ax.get_title() for ax in fig.axes[:2]]
    assert titles == ["1x8", "3x8"]
    # three systems and the dashed network line in the 3-layer test panel
    test_panel = fig.axes[3]
    assert len(test_panel.get_lines()) == 4


def test_every_figure_is_written(frame, tmp_path):
    written = write_classifier_figures(frame, ["digits-sigmoid-d3-w8-bnfalse"], tmp_path)
    assert {p.name for p in written} == {"layers_digits_relu_w8_bnfalse.png",
                                         "layers_digits_sigmoid_w8_bnfalse.png",
                                         "epochs_digits-sigmoid-d3-w8-bnfalse.png"}
    assert all(p.stat().st_size > 10_000 for p in written)
    with pytest.raises(ValueError, match="no layer-classifier results"):
        write_classifier_figures(frame, ["digits-relu-d9-w8-bnfalse"], tmp_path)
