"""The batched MLP: shapes, the bias / batch-norm convention, init statistics, and that one
stacked forward equals S separate ``nn.Sequential`` networks."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from activation_study.network.model import (
    BatchedMLP,
    ModelSpec,
    build_model,
    get_activation,
    init_std,
)
from activation_study.training.engine import TrainSettings, train_batched


def reference_network(model: BatchedMLP, k: int) -> nn.Sequential:
    """The plain PyTorch network that model ``k`` of the stack is meant to be."""
    spec, layers = model.spec, []
    for layer, (fan_in, fan_out) in enumerate(spec.layer_dims()[:-1]):
        linear = nn.Linear(fan_in, fan_out, bias=(layer == 0 and not spec.batchnorm))
        linear.weight.data = model.weights[layer][k].T.clone()
        if linear.bias is not None:
            linear.bias.data = model.bias[k].clone()
        layers.append(linear)
        if spec.batchnorm:
            bn = nn.BatchNorm1d(fan_out)
            bn.weight.data = model.bn_weight[layer][k].clone()
            bn.bias.data = model.bn_bias[layer][k].clone()
            bn.running_mean = getattr(model, f"running_mean_{layer}")[k].clone()
            bn.running_var = getattr(model, f"running_var_{layer}")[k].clone()
            layers.append(bn)
        layers.append(Lambda(model.activation.fn))
    out = nn.Linear(spec.width, spec.num_classes, bias=False)
    out.weight.data = model.weights[-1][k].T.clone()
    return nn.Sequential(*layers, out)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def spec(**kw) -> ModelSpec:
    base = dict(input_dim=12, depth=3, width=7, batchnorm=False, activation="relu")
    return ModelSpec(**(base | kw))


def test_shapes_and_preactivations():
    model = build_model(spec(), seeds=[0, 1])
    logits, pre = model(torch.rand(2, 5, 12), return_preactivations=True)
    assert logits.shape == (2, 5, 10)
    assert [p.shape for p in pre] == [(2, 5, 7)] * 3
    shared = model(torch.rand(5, 12))  # one sample set shared by every seed
    assert shared.shape == (2, 5, 10)


def test_bias_only_on_first_layer_without_batchnorm():
    names = {n for n, _ in build_model(spec(), [0]).named_parameters()}
    assert names == {"weights.0", "weights.1", "weights.2", "weights.3", "bias"}
    bn_names = {n for n, _ in build_model(spec(batchnorm=True), [0]).named_parameters()}
    assert "bias" not in bn_names
    assert {f"bn_weight.{i}" for i in range(3)} <= bn_names
    assert {f"bn_bias.{i}" for i in range(3)} <= bn_names


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("training", [True, False])
def test_stack_equals_separate_sequential_networks(batchnorm, activation, training):
    model = build_model(spec(batchnorm=batchnorm, activation=activation), seeds=[3, 4, 5])
    with torch.no_grad():  # non-trivial BN state and bias, so the comparison means something
        for p in model.parameters():
            if p.dim() == 2:
                p.add_(torch.randn_like(p) * 0.3)
        for name, buf in model.named_buffers():
            buf.copy_(torch.rand_like(buf) + (0.5 if "var" in name else 0.0))
    x = torch.rand(3, 9, 12)
    model.train(training)
    batched = model(x)
    for k in range(3):
        ref = reference_network(model, k).train(training)
        torch.testing.assert_close(batched[k], ref(x[k]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation,rule", [
    ("relu", "he"), ("sigmoid", "xavier"), ("tanh", "xavier"), ("leaky_relu", "he"),
    ("rescaled_sigmoid", "xavier"), ("leaky_tanh", "xavier"), ("prelu", "he"), ("elu", "he"),
    ("gelu", "he"), ("silu", "he")])
def test_init_statistics(activation, rule):
    assert get_activation(activation).init == rule
    model = build_model(ModelSpec(784, 2, 400, False, activation), seeds=[0])
    for w, (fan_in, fan_out) in zip(model.weights, model.spec.layer_dims(), strict=True):
        expected = math.sqrt(2 / fan_in) if rule == "he" else math.sqrt(2 / (fan_in + fan_out))
        assert init_std(rule, fan_in, fan_out) == pytest.approx(expected)
        assert w.std().item() == pytest.approx(expected, rel=0.05)
        assert abs(w.mean().item()) < 0.1 * expected
    assert torch.count_nonzero(model.bias) == 0


def test_each_seed_draws_its_own_weights_whatever_the_stack():
    alone = build_model(spec(), seeds=[7])
    stacked = build_model(spec(), seeds=[1, 7, 9])
    for w_alone, w_stack in zip(alone.weights, stacked.weights, strict=True):
        assert torch.equal(w_alone[0], w_stack[1])
        assert not torch.equal(w_stack[0], w_stack[1])


def test_prelu_slopes_are_parameters_per_seed_and_node_and_learn():
    spec = ModelSpec(20, 2, 6, False, "prelu", shape=0.25)
    model = build_model(spec, seeds=[0, 1])
    assert [tuple(p.shape) for p in model.slopes] == [(2, 6), (2, 6)]
    assert all(torch.all(p == 0.25) for p in model.slopes)
    # the gradient of the output w.r.t. a slope is the negative part of its pre-activation
    x = torch.randn(2, 5, 20)
    logits, pre = model(x, return_preactivations=True)
    upstream = torch.randn_like(logits)
    (logits * upstream).sum().backward()
    h1 = model.activate(pre[0], 0)
    z2 = torch.bmm(h1, model.weights[1])
    grad_h2 = torch.bmm(upstream, model.weights[2].transpose(1, 2))  # d out / d h2
    expected = (grad_h2 * torch.clamp(z2, max=0)).sum(dim=1)  # d h2 / d a = z where z < 0
    torch.testing.assert_close(model.slopes[1].grad, expected.detach(), rtol=1e-5, atol=1e-6)
    # and training moves them, seed by seed
    rng = np.random.default_rng(0)
    split = {part: (rng.integers(0, 256, (n, 20)).astype(np.uint8), np.arange(n) % 10)
             for part, n in (("train", 96), ("validation", 32), ("test", 32))}
    settings = TrainSettings([0, 1], 2, 16, 1e-2, 0.99, [], "cpu")
    result = train_batched(spec, split, settings, progress=False).to_checkpoint()
    learned = torch.stack([result["best"][f"slopes.{layer}"] for layer in range(2)])
    assert learned.shape == (2, 2, 6) and not torch.allclose(learned, torch.tensor(0.25))
