"""Extraction: pre-activations equal the model's, flow variances equal a direct computation,
sample selection, storage dtype, reproducible bytes and atomic output."""

import numpy as np
import pytest
import torch

from activation_study.analysis.extraction import (
    extract_config,
    extract_state,
    load_extraction,
    load_state,
    model_states,
    select_samples,
)
from activation_study.network.model import ModelSpec, per_sample_loss
from activation_study.training.engine import TrainSettings, train_batched


def toy_split(seed=0):
    rng = np.random.default_rng(seed)

    def part(n):
        return (rng.integers(0, 256, size=(n, 20)).astype(np.uint8),
                (np.arange(n) % 10).astype(np.int64))

    return {"train": part(150), "validation": part(40), "test": part(40)}


@pytest.fixture(scope="module", params=[False, True], ids=["bn0", "bn1"])
def checkpoint(request):
    spec = ModelSpec(20, 2, 8, request.param, "relu")
    settings = TrainSettings([0, 1], 2, 32, 1e-2, 0.99, [1], "cpu")
    return train_batched(spec, toy_split(), settings, progress=False).to_checkpoint()


def test_states_in_order(checkpoint):
    assert model_states(checkpoint) == ["initial", "epoch1", "best"]


def test_preactivations_and_flow_equal_a_direct_computation(checkpoint):
    x = torch.rand(23, 20)
    y = torch.arange(23) % 10
    for state in model_states(checkpoint):
        model = load_state(checkpoint, state, "cpu")
        pre, predicted, flow = extract_state(model, x, y, chunk=7)  # 4 chunks, last short
        logits, expected = model(x, return_preactivations=True)
        torch.testing.assert_close(predicted, logits.argmax(dim=2))
        grads = torch.autograd.grad(per_sample_loss(logits, y.expand(2, -1)).sum(), expected)
        for layer, (z, g) in enumerate(zip(expected, grads, strict=True)):
            torch.testing.assert_close(pre[layer], z.detach())
            direct = {"preactivation_var": z, "activation_var": torch.relu(z),
                      "gradient_var": g}
            for key, value in direct.items():
                var = value.detach().double().reshape(2, -1).var(dim=1, unbiased=False)
                np.testing.assert_allclose(flow[key][layer], var.numpy(), rtol=1e-6, atol=1e-12)


def test_select_samples_per_class():
    labels = np.repeat(np.arange(3), [5, 2, 4])
    chosen = select_samples(labels, 3, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [3, 2, 3]
    assert np.all(np.diff(chosen) > 0)
    np.testing.assert_array_equal(chosen, select_samples(labels, 3, seed=0))
    assert len(select_samples(labels, None, seed=0)) == 11


def test_folder_format_dtype_and_reproducible_bytes(checkpoint, tmp_path):
    split = toy_split()
    for name, dtype in (("a", "float16"), ("b", "float16"), ("c", "float32")):
        extract_config(checkpoint, split, tmp_path / name, samples_per_class=4, seed=0,
                       dtype=dtype, device="cpu", progress=False)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    half, full = load_extraction(tmp_path / "a"), load_extraction(tmp_path / "c")
    pre16, pre32 = half["pre"][("best", "train")], full["pre"][("best", "train")]
    assert pre16.dtype == np.float16 and pre16.shape == (2, 2, 40, 8)  # layers, seeds, 4x10, nodes
    np.testing.assert_allclose(pre16, pre32, rtol=2e-3, atol=1e-3)
    np.testing.assert_array_equal(np.sign(pre16), np.sign(pre32))  # on/off unchanged
    assert np.bincount(half["labels"]["test"]).tolist() == [4] * 10
    assert set(half["flow"]) == {"initial", "epoch1", "best"}
    predicted = half["predicted"][("best", "test")]
    assert predicted.dtype == np.int16 and predicted.shape == (2, 40)  # seeds, samples
    np.testing.assert_array_equal(predicted, full["predicted"][("best", "test")])


def test_failed_extraction_leaves_no_folder(checkpoint, tmp_path):
    with pytest.raises(KeyError):
        extract_config(checkpoint, toy_split(), tmp_path / "out", None, 0, sets=("train", "nope"),
                       device="cpu", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_untrained_batchnorm_is_calibrated_on_the_training_samples():
    spec = ModelSpec(20, 3, 8, True, "relu")
    settings = TrainSettings([0, 1], 1, 32, 1e-2, 0.99, [], "cpu")
    checkpoint = train_batched(spec, toy_split(), settings, progress=False).to_checkpoint()
    x = torch.as_tensor(toy_split()["train"][0]).float() / 255
    y = torch.as_tensor(toy_split()["train"][1])
    model = load_state(checkpoint, "initial", "cpu")
    identity, _, _ = extract_state(model, x, y)  # running stats as initialised: mean 0, var 1
    model.calibrate_batchnorm(x, chunk=40)  # 4 chunks, the last one short
    calibrated, _, _ = extract_state(model, x, y)
    for z in calibrated:  # every layer normalised over the set: per node mean 0, variance 1
        torch.testing.assert_close(z.mean(dim=1), torch.zeros(2, 8), atol=1e-4, rtol=0)
        torch.testing.assert_close(z.var(dim=1, unbiased=False), torch.ones(2, 8), atol=2e-3,
                                   rtol=0)
    assert identity[0].mean(dim=1).abs().min() > 1e-2  # positive pixels: uncentred before
