"""The stacked Adam (a learning rate per model inside the update, state on the device) and
the epoch runners: the device-counter steps that CUDA graphs capture equal the eager steps."""

import copy

import pytest
import torch

from activation_study.network.model import ModelSpec, build_model
from activation_study.training.engine import TrainSettings, train_batched, use_graphs
from activation_study.training.stacked_adam import StackedAdam
from activation_study.training.train_step import CounterEpoch, EagerEpoch, GraphedEpoch
from tests.test_engine import toy_split


def random_grads(params, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=generator) for p in params] for _ in range(steps)]


def test_stacked_adam_is_torch_adam_at_each_models_own_rate():
    generator = torch.Generator().manual_seed(1)
    params = [torch.randn(3, 5, 4, generator=generator), torch.randn(3, 4, generator=generator)]
    scales = [1.0, 0.1, 0.01]
    stacked = [p.clone().requires_grad_() for p in params]
    optimiser = StackedAdam(stacked, lr=1e-2, lr_scale=scales)
    alone = [[p[k].clone().requires_grad_() for p in params] for k in range(3)]
    references = [torch.optim.Adam(ps, lr=1e-2 * scale)
                  for ps, scale in zip(alone, scales, strict=True)]
    for grads in random_grads(params, steps=5):
        for p, g in zip(stacked, grads, strict=True):
            p.grad = g.clone()
        optimiser.step()
        for k, (ps, reference) in enumerate(zip(alone, references, strict=True)):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g[k].clone()
            reference.step()
    for k, ps in enumerate(alone):
        for p, q in zip(stacked, ps, strict=True):
            # float32 rounding of a different order of operations: a few ulps
            torch.testing.assert_close(p.detach()[k], q.detach(), rtol=1e-5, atol=1e-6)


def test_stacked_adam_rate_follows_the_scheduler_only_through_sync_lr():
    p = torch.zeros(2, 3, requires_grad=True)
    optimiser = StackedAdam([p], lr=0.1, lr_scale=[1.0, 0.5])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.5)
    p.grad = torch.ones(2, 3)
    optimiser.step()  # Adam's first step moves by the rate: 0.1 and 0.05
    torch.testing.assert_close(p.detach(), torch.tensor([[-0.1] * 3, [-0.05] * 3]))
    scheduler.step()
    assert optimiser.param_groups[0]["lr"] == pytest.approx(0.05)
    assert optimiser.lr_tensor.item() == pytest.approx(0.1)  # a graph reads the device value
    optimiser.sync_lr()
    assert optimiser.lr_tensor.item() == pytest.approx(0.05)


def test_stacked_adam_loads_its_state_in_place():
    """A captured graph holds the addresses of the state tensors: loading a checkpoint must
    write into them, not replace them."""
    p = torch.zeros(2, 4, requires_grad=True)
    optimiser = StackedAdam([p], lr=1e-2, lr_scale=[1.0, 0.1])
    p.grad = torch.ones(2, 4)
    optimiser.step()
    saved = copy.deepcopy(optimiser.state_dict())
    tensors = [t.data_ptr() for t in optimiser.state_tensors()]
    p.grad = -torch.ones(2, 4)
    optimiser.step()
    optimiser.param_groups[0]["lr"] = 5.0
    optimiser.load_state_dict(saved)
    assert [t.data_ptr() for t in optimiser.state_tensors()] == tensors
    state = optimiser.state[p]
    assert state["step"].item() == 1.0
    torch.testing.assert_close(state["exp_avg"], saved["state"][0]["exp_avg"], rtol=0, atol=0)
    assert optimiser.lr_tensor.item() == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="no model axis of 3 models"):
        StackedAdam([p], lr=1e-2, lr_scale=[1.0, 1.0, 1.0])


@pytest.mark.parametrize("batchnorm", [False, True])
def test_device_counter_steps_equal_eager_steps_bitwise(batchnorm):
    """The steps a CUDA graph captures (batch order in a device buffer, position advanced by a
    device counter, the last smaller batch its own step) are the eager steps, bit for bit."""
    split = toy_split(n_train=150)
    x = torch.as_tensor(split["train"][0]).float().div_(255.0)
    y = torch.as_tensor(split["train"][1]).long()
    spec = ModelSpec(input_dim=20, depth=3, width=16, batchnorm=batchnorm, activation="relu")
    results = []
    for runner_type in (EagerEpoch, CounterEpoch):
        model = build_model(spec, [0, 1, 2]).train()
        optimiser = StackedAdam(model.parameters(), lr=3e-3, lr_scale=[1.0, 0.5, 0.1])
        runner = runner_type(model, optimiser, x, y, batch_size=32)  # 4 x 32 + 22
        generator = torch.Generator().manual_seed(0)
        for _ in range(2):
            runner.run(torch.stack([torch.randperm(150, generator=generator)
                                    for _ in range(3)]))
        results.append(model.state_dict())
    assert CounterEpoch(model, optimiser, x, y, 32).batches == [(32, 4), (22, 1)]
    for name, value in results[0].items():
        assert torch.equal(value, results[1][name]), name


def test_compile_setting_and_graphs_need_cuda():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_graphs("auto", cpu) is False and use_graphs("auto", cuda) is True
    assert use_graphs(False, cuda) is False
    with pytest.raises(ValueError, match="'train.compile' = true is not allowed: CUDA graphs"):
        use_graphs(True, cpu)
    model = build_model(ModelSpec(4, 1, 3, False, "relu"), [0])
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        GraphedEpoch(model, StackedAdam(model.parameters(), 1e-3, [1.0]), torch.zeros(5, 4),
                     torch.zeros(5, dtype=torch.long), 2)


def test_training_records_how_it_computed():
    spec = ModelSpec(input_dim=20, depth=1, width=8, batchnorm=False, activation="relu")
    settings = TrainSettings(seeds=[0], epochs=1, batch_size=32, lr=1e-3, lr_decay=0.9,
                             device="cpu", compile="auto", matmul_precision="high")
    try:
        result = train_batched(spec, toy_split(), settings, progress=False)
    finally:
        torch.set_float32_matmul_precision("highest")
    assert result.training() == {"device": "cpu", "compile": False, "matmul_precision": "high"}
    assert result.to_checkpoint()["training"] == result.training()
