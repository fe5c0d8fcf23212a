"""Node-level metrics on small hand-made arrays with answers worked out by hand."""

import math

import numpy as np
import pytest
import torch

from activation_study.analysis.node_metrics import (
    activation_probability,
    class_median_spread,
    class_medians_stds,
    dead_percentage,
    dispersion,
    epochs_to_target,
    is_on,
    layer_sparsity,
    layer_summary,
    lifetime_sparsity,
    node_activity,
    saturation_fraction,
)
from activation_study.network.model import get_activation


def test_class_medians_and_stds_by_hand():
    # one seed, 5 samples, 2 nodes; class 0 = samples 0, 2, 4 (odd count), class 1 = 1, 3
    values = np.array([[[1, 10], [5, 0], [3, 20], [7, 4], [2, 30]]], dtype=np.float32)
    labels = np.array([0, 1, 0, 1, 0])
    median, std = class_medians_stds(values, labels, num_classes=3)
    # class 0 node 0: {1, 3, 2} -> 2; node 1: {10, 20, 30} -> 20
    # class 1 node 0: {5, 7} -> 6 (even count: mean of the middle two); node 1: {0, 4} -> 2
    np.testing.assert_allclose(median[0, :2], [[2, 20], [6, 2]])
    # population std: class 0 node 1: values 10, 20, 30 -> sqrt(200/3); class 1 node 0: 1
    np.testing.assert_allclose(std[0, 0, 1], math.sqrt(200 / 3), rtol=1e-6)
    np.testing.assert_allclose(std[0, 1, 0], 1.0, rtol=1e-6)
    assert np.isnan(median[0, 2]).all() and np.isnan(std[0, 2]).all()  # class 2 has no samples
    # spread of class medians: node 0 {2, 6} -> std 2, node 1 {20, 2} -> 9; empty class ignored
    np.testing.assert_allclose(class_median_spread(median), [5.5])


def test_class_medians_match_a_per_class_loop():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, 97, 5)).astype(np.float32)
    labels = rng.integers(0, 4, size=97)
    median, std = class_medians_stds(values, labels, 4)
    for c in range(4):
        np.testing.assert_allclose(median[:, c], np.median(values[:, labels == c], axis=1),
                                   atol=1e-6)
        np.testing.assert_allclose(std[:, c], values[:, labels == c].std(axis=1), atol=1e-5)


def test_dead_node_is_excluded_from_sparsity_and_seeds_do_not_mix():
    # seed 0: node 0 on for 1 of 4 samples (off 3/4), node 1 on for all (off 0), node 2 dead
    # -> sparsity = mean(0.75, 0) = 37.5 %, dead = 1 of 3 nodes = 33.3 %
    # seed 1: every node on for 2 of 4 samples -> 50 %, no dead node
    on = np.array([
        [[1, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0]],
        [[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]],
    ], dtype=bool)
    np.testing.assert_allclose(layer_sparsity(on), [37.5, 50.0])
    np.testing.assert_allclose(dead_percentage(on), [100 / 3, 0.0])
    all_dead = np.zeros((1, 3, 2), dtype=bool)
    assert np.isnan(layer_sparsity(all_dead)).all() and dead_percentage(all_dead)[0] == 100


def test_node_activity_per_class():
    on = np.array([[[1, 0], [1, 1], [0, 1], [0, 1]]], dtype=bool)
    labels = np.array([0, 0, 1, 1])
    per_class, overall = node_activity(on, labels, 2)
    np.testing.assert_allclose(per_class[0], [[1.0, 0.5], [0.0, 1.0]])  # node 0 on for class 0
    np.testing.assert_allclose(overall[0], [0.5, 0.75])


def test_sigmoid_node_exactly_at_half_is_off():
    sigmoid = get_activation("sigmoid")
    act = sigmoid.fn(torch.tensor([[[0.0], [1e-3], [-1e-3]]])).numpy()  # 0.5, >0.5, <0.5
    np.testing.assert_array_equal(is_on(act, sigmoid.on_threshold)[0, :, 0], [False, True, False])


def test_seed_004_worked_example():
    # five units over 10 samples with activation probabilities [0.5, 0, 0.5, 0, 0]
    act = np.zeros((1, 10, 5))
    act[0, :5, 0] = 1.0
    act[0, 5:, 2] = 2.0
    prob = activation_probability(act, 0.0, np.inf)
    np.testing.assert_allclose(prob[0], [0.5, 0, 0.5, 0, 0])
    assert lifetime_sparsity(prob)[0] == pytest.approx(0.2)
    assert dispersion(prob)[0] == pytest.approx(math.sqrt(0.06))  # 0.245, "0.24" in 004
    flat = np.full((1, 5), 0.2)
    assert lifetime_sparsity(flat)[0] == pytest.approx(0.2) and dispersion(flat)[0] == 0


@pytest.mark.parametrize("name,values,unsaturated", [
    ("relu", [0.0, 0.5, 3.0, 0.0], [False, True, True, False]),
    ("tanh", [-0.96, -0.5, 0.94, 0.95], [False, True, True, False]),
    ("sigmoid", [0.02, 0.025, 0.5, 0.98], [False, False, True, False]),
])
def test_saturation_bands(name, values, unsaturated):
    low, high = get_activation(name).band
    act = np.array(values).reshape(1, 4, 1)
    np.testing.assert_array_equal(activation_probability(act, low, high)[0, 0],
                                  np.mean(unsaturated))
    # saturation = 1 - mean activation probability
    assert saturation_fraction(act, low, high)[0] == pytest.approx(1 - np.mean(unsaturated))


def test_epochs_to_target():
    acc = np.array([[10, 50, 99.5, 100], [10, 20, 30, 40]])
    np.testing.assert_array_equal(epochs_to_target(acc, 99.0), [2, -1])
    np.testing.assert_array_equal(epochs_to_target(acc, 5.0), [0, 0])


def test_he_initialised_relu_layer_sits_near_half_sparsity():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(2000, 784)).astype(np.float32)
    w = rng.normal(0, math.sqrt(2 / 784), size=(784, 200)).astype(np.float32)
    pre = (x - x.mean(axis=0)) @ w  # zero-mean inputs, zero bias
    summary = layer_summary(pre[None], rng.integers(0, 10, 2000), 10, lambda z: np.maximum(z, 0),
                            0.0, 0.0, np.inf)
    assert 45 <= summary["sparsity_pct"][0] <= 55
    raw = layer_summary((x @ w)[None], rng.integers(0, 10, 2000), 10,
                        lambda z: np.maximum(z, 0), 0.0, 0.0, np.inf)
    assert 35 <= raw["sparsity_pct"][0] <= 65  # positive images: per-node bias, layer mean ~50
