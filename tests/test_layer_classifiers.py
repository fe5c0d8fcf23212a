"""Nodes and layers as classifiers (ch. 6) on hand-made layers with known answers."""

import numpy as np
import pytest
import torch

from activation_study.analysis import layer_classifiers as layer_classifiers
from activation_study.analysis.layer_classifiers import BinnedKDE, ExactKDE, layer_accuracies

SYSTEMS = ("discrete", "continuous", "combined")


def relu_on(z: torch.Tensor) -> torch.Tensor:
    return z > 0


def accuracies(z_train, y_train, z_test=None, y_test=None, **kwargs):
    evaluations = {"train": (z_train, y_train)}
    if z_test is not None:
        evaluations["test"] = (z_test, y_test)
    result = layer_accuracies(z_train, y_train, evaluations, int(max(y_train)) + 1, relu_on,
                              SYSTEMS, **kwargs)
    return {system: {part: float(v[0]) for part, v in parts.items()}
            for system, parts in result.items()}


def test_perfectly_separable_classes_give_accuracy_100():
    # node 0 on only for class 1 (discrete separates); node 1 at well-apart values per class
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    z = np.stack([np.where(y == 1, 1.0, -1.0), 3.0 * y], axis=1)[None].astype(np.float32)
    z[0, :, 0] += np.linspace(0, 0.1, 9)  # not all identical
    result = accuracies(z, y, z, y)
    assert result["continuous"] == {"train": 100.0, "test": 100.0}
    assert result["combined"]["train"] == 100.0
    # discrete: (node 0, node 1) is (off, off) for class 0, (on, on) for 1, (off, on) for 2
    assert result["discrete"]["train"] == 100.0


@pytest.mark.parametrize("estimator", ["binned", "exact"])
def test_uninformative_constant_and_dead_nodes_change_nothing(estimator):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    informative = (y[:, None] * 1.5 + rng.normal(0, 0.6, (60, 2))).astype(np.float32)
    base = accuracies(informative[None], y, estimator=estimator)
    constant = np.full((60, 1), 0.7, dtype=np.float32)  # always on, same value for every class
    dead = np.full((60, 1), -1.3, dtype=np.float32)  # never on
    padded = np.concatenate([informative, constant, dead], axis=1)[None]
    result = accuracies(padded, y, estimator=estimator)
    assert result == base
    assert all(np.isfinite(v) for parts in result.values() for v in parts.values())


def test_ties_go_to_the_first_class_and_prior_decides_without_information():
    y = np.array([0, 1, 1, 2, 2, 2])
    z = np.zeros((1, 6, 2), dtype=np.float32)  # no node carries information
    frequency = accuracies(z, y)  # class-frequency prior: always the largest class, 2
    assert frequency["discrete"]["train"] == pytest.approx(50.0)
    assert frequency["continuous"]["train"] == pytest.approx(50.0)
    uniform = accuracies(z, y, prior="uniform")  # a three-way tie: argmax takes class 0
    assert uniform["discrete"]["train"] == pytest.approx(100 / 6)


def test_discrete_node_always_on_for_one_class():
    # P(on | 0) = 1 (both class-0 samples on), P(on | 1) = 1/4; priors 1/3 and 2/3
    y = np.array([0, 0, 1, 1, 1, 1])
    z = np.array([1.0, 2.0, 1.0, -1.0, -1.0, -1.0], dtype=np.float32)[None, :, None]
    result = layer_accuracies(z, y, {"train": (z, y)}, 2, relu_on, ("discrete",), floor=1e-6)
    # on: log(1/3) + log(1) > log(2/3) + log(1/4) -> class 0 (right twice, wrong once);
    # off: class 0 has P(off | 0) = floor -> class 1 (right three times)
    assert float(result["discrete"]["train"][0]) == pytest.approx(100 * 5 / 6)


def test_combined_uses_discrete_where_off_and_density_where_on():
    # off samples of both classes are identical in on/off but differ in their negative values:
    # the continuous system separates them, the combined one cannot (it sees only "off")
    y = np.array([0, 0, 1, 1])
    z = np.array([-3.0, -3.1, -1.0, -1.1], dtype=np.float32)[None, :, None]
    result = accuracies(z, y)
    assert result["continuous"]["train"] == 100.0
    assert result["combined"]["train"] == 50.0  # all off: prior tie, class 0


def test_binned_density_matches_the_exact_sum():
    rng = np.random.default_rng(1)
    s, n, w, c = 2, 800, 6, 4
    y = torch.as_tensor(rng.integers(0, c, n))
    z = torch.as_tensor(rng.normal(0, 1.5, (s, n, w)) + y.numpy()[None, :, None],
                        dtype=torch.float32)
    probe = torch.as_tensor(rng.normal(0, 2.0, (s, 300, w)), dtype=torch.float32)
    lo = torch.minimum(z.amin(1), probe.amin(1)) - 0.8
    hi = torch.maximum(z.amax(1), probe.amax(1)) + 0.8
    binned = BinnedKDE(z, y, c, 0.2, torch.stack([lo, hi]), grid_per_bandwidth=24)(probe)
    exact = ExactKDE(z, y, c, 0.2)(probe)
    mask = exact > 1e-10
    relative = ((binned - exact).abs() / exact)[mask]
    assert mask.float().mean() > 0.5 and float(relative.max()) < 2e-4


def test_binned_and_exact_layer_accuracies_agree():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 600)
    yt = rng.integers(0, 5, 300)
    centers = rng.normal(0, 0.7, (5, 20))
    z = (centers[y] + rng.normal(0, 1, (600, 20)))[None].astype(np.float32)
    zt = (centers[yt] + rng.normal(0, 1, (300, 20)))[None].astype(np.float32)
    binned = accuracies(z, y, zt, yt, estimator="binned")
    exact = accuracies(z, y, zt, yt, estimator="exact")
    for system in SYSTEMS:
        for part in ("train", "test"):
            assert abs(binned[system][part] - exact[system][part]) <= 0.2 + 1e-9
    assert 30 < exact["continuous"]["test"] < 100  # a problem that is neither trivial nor chance


def test_unknown_estimator_or_prior_is_refused():
    z, y = np.zeros((1, 4, 1), dtype=np.float32), np.array([0, 1, 0, 1])
    for kwargs in ({"estimator": "fft"}, {"prior": "flat"}):
        with pytest.raises(ValueError, match="estimator must be one of"):
            layer_accuracies(z, y, {"train": (z, y)}, 2, relu_on, SYSTEMS, **kwargs)


def test_node_blocks_and_node_order_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300)
    spans = np.geomspace(0.3, 30, 40)  # very different value ranges per node
    z = ((rng.normal(0, 1, (2, 300, 40)) + 0.8 * y[None, :, None]) * spans).astype(np.float32)
    whole = layer_accuracies(z, y, {"train": (z, y)}, 4, relu_on, SYSTEMS)
    order = rng.permutation(40)
    shuffled = layer_accuracies(z[:, :, order], y, {"train": (z[:, :, order], y)}, 4, relu_on,
                                SYSTEMS)
    monkeypatch.setattr(layer_classifiers, "BLOCK_BYTES", 1)  # one node per block
    blocks = layer_classifiers._node_blocks(torch.as_tensor(spans), 8, 0.2 / 24)
    assert [len(b) for b in blocks] == [1] * 40
    assert torch.equal(torch.cat(blocks), torch.arange(40))  # ascending span
    single = layer_accuracies(z, y, {"train": (z, y)}, 4, relu_on, SYSTEMS)
    for system in SYSTEMS:
        np.testing.assert_allclose(shuffled[system]["train"], whole[system]["train"])
        np.testing.assert_allclose(single[system]["train"], whole[system]["train"])


def test_unknown_system_is_refused():
    z, y = np.zeros((1, 4, 1), dtype=np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="systems from"):
        layer_accuracies(z, y, {"train": (z, y)}, 2, relu_on, ("discrete", "hybrid"))


def test_exact_density_equals_scikit_learn_kernel_density():
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    z = rng.normal(0, 1, (1, 200, 1)) + 2.0 * y[None, :, None]
    probe = rng.normal(1, 2, (1, 50, 1))
    ours = ExactKDE(torch.as_tensor(z), torch.as_tensor(y), 2, 0.2)(torch.as_tensor(probe))
    for c in (0, 1):
        reference = KernelDensity(bandwidth=0.2).fit(z[0, y == c]).score_samples(probe[0])
        np.testing.assert_allclose(ours[0, :, 0, c].numpy(), np.exp(reference), rtol=1e-10,
                                   atol=1e-300)


def test_binned_density_far_from_the_data_stays_below_any_useful_floor():
    # FFT round-off is ~1e-16 of the peak and of either sign; interpolating it must not
    # produce densities that would pass the floor (an interpolated log would overshoot)
    rng = np.random.default_rng(5)
    y = torch.as_tensor(rng.integers(0, 3, 500))
    z = torch.as_tensor(rng.normal(0, 0.3, (1, 500, 4)), dtype=torch.float32)
    far = torch.linspace(3.0, 40.0, 2000, dtype=torch.float32)[None, :, None].expand(1, -1, 4)
    lo, hi = z.amin(1) - 0.2, torch.full((1, 4), 40.2)
    density = BinnedKDE(z, y, 3, 0.2, torch.stack([lo, hi]), 24)(far.contiguous())
    assert float(density.abs().max()) < 1e-13
