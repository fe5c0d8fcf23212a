"""The per-network figures on small hand-made arrays: nodes chosen for the histograms, notes,
dead nodes marked, sorted activation probabilities."""

import numpy as np
from matplotlib.colors import to_rgba

from activation_study.figures import network as network_figures


def test_choose_nodes_skips_dead_and_starts_with_the_most_separating():
    medians = np.zeros((4, 6))
    medians[:, 2] = [0, 5, 10, 15]  # widest spread, but dead
    medians[:, 4] = [0, 3, 6, 9]
    medians[:, 1] = [0, 1, 2, 3]
    medians[:, 0] = np.nan  # no spread known: ranked last
    dead = np.array([False, False, True, False, False, False])
    assert network_figures.choose_nodes(medians, dead, 1) == [4]
    picked = network_figures.choose_nodes(medians, dead, 3)
    assert picked[0] == 4 and 2 not in picked and len(set(picked)) == 3
    assert network_figures.choose_nodes(medians, np.ones(6, bool), 2) == [0, 1]  # all dead
    assert network_figures.histogram_layers(1) == [0]
    assert network_figures.histogram_layers(4) == [0, 1, 3]


def test_histogram_notes_relu_zeros_and_labels_panels():
    rng = np.random.default_rng(1)
    pre = rng.normal(-1, 1, (2, 500, 4)).astype(np.float32)  # ~84% of samples off
    labels = rng.integers(0, 3, 500)
    fig = network_figures.histogram_figure(pre, labels, {0: [1, 3], 1: [0]}, "relu", 3, "t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles.count("layer 1, node 3") == 2 and titles.count("layer 2, node 0") == 2
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len([n for n in notes if "of samples = 0" in n]) == 3  # every activation panel


def test_node_activity_marks_dead_nodes():
    activity = np.full((2, 5), 0.5)
    activity[1, 3] = 0.0
    dead = activity == 0
    fig = network_figures.node_activity_figure({"trained": (activity, dead)}, "tab:blue", "t")
    crosses = [line for line in fig.axes[0].lines if line.get_marker() == "x"]
    assert len(crosses) == 1
    assert list(crosses[0].get_xdata()) == [8]  # layer 2, node 3 -> 5 + 3
    assert "layer 2: mean 50% on, 1 dead" in [t.get_text() for t in fig.axes[0].texts]


def test_heatmap_paints_dead_columns_red():
    activity = np.random.default_rng(2).uniform(0, 1, (2, 4, 6))
    dead = np.zeros((2, 6), bool)
    dead[0, 2] = True
    activity[0, :, 2] = 0
    fig = network_figures.class_activity_heatmap(activity, dead, "t")
    overlay = fig.axes[0].images[1].get_array()
    assert tuple(overlay[0, 2]) == to_rgba("red")
    assert overlay[0, :, 3].sum() == 1  # only the dead column is opaque
    assert fig.axes[0].get_title() == "layer 1 (1 dead)"


def test_activation_probability_legend_gives_lifetime_sparsity():
    probs = {"initial": np.array([[0.5, 0.5, np.nan]]), "best": np.array([[0.2, 0.4, 0.9]])}
    fig = network_figures.activation_probability_figure(probs, "t")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "layer 1: 0.50 → 0.50" in labels
    solid = [line for line in fig.axes[0].lines if line.get_linestyle() == "-" and
             len(line.get_xdata())]
    assert list(solid[0].get_ydata()) == [0.9, 0.4, 0.2]
