"""The batched engine: equal to training each seed alone, early stopping, lr decay,
snapshots, determinism, and that it learns."""

import numpy as np
import pytest
import torch

from activation_study.network.model import ModelSpec
from activation_study.network.stored import load_models
from activation_study.training.engine import TrainSettings, evaluate, to_device, train_batched


def toy_split(n_train=150, n_val=40, n_test=40, dim=20, seed=0):
    """Ten noisy class prototypes in uint8 pixel space: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, dim))

    def part(n):
        y = rng.integers(0, 10, size=n)
        x = np.clip(prototypes[y] + rng.normal(0, 60, size=(n, dim)), 0, 255)
        return x.astype(np.uint8), y.astype(np.int64)

    return {"train": part(n_train), "validation": part(n_val), "test": part(n_test)}


def run(seeds, batchnorm=False, activation="relu", epochs=4, snapshots=(), split=None, lr=3e-3):
    spec = ModelSpec(input_dim=20, depth=2, width=16, batchnorm=batchnorm, activation=activation)
    settings = TrainSettings(seeds=list(seeds), epochs=epochs, batch_size=32, lr=lr,
                             lr_decay=0.9, snapshot_epochs=list(snapshots), device="cpu")
    return train_batched(spec, split or toy_split(), settings, progress=False)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_batched_training_equals_each_seed_alone(batchnorm):
    together = run([0, 1, 2], batchnorm=batchnorm)
    for k, seed in enumerate([0, 1, 2]):
        alone = run([seed], batchnorm=batchnorm)
        h_together = together.history[together.history.seed == seed].reset_index(drop=True)
        h_alone = alone.history.reset_index(drop=True)
        np.testing.assert_allclose(h_together.drop(columns="seed").to_numpy(),
                                   h_alone.drop(columns="seed").to_numpy(), rtol=1e-5, atol=1e-5)
        assert together.best_epoch[k] == alone.best_epoch[0]
        for name, value in alone.best.items():
            torch.testing.assert_close(together.best[name][k], value[0], rtol=1e-5, atol=1e-6)


def test_learning_rate_per_model_equals_each_rate_alone():
    spec = ModelSpec(input_dim=20, depth=2, width=16, batchnorm=True, activation="relu")

    def train(seeds, lr, scale=None):
        settings = TrainSettings(seeds=seeds, epochs=3, batch_size=32, lr=lr, lr_decay=0.9,
                                 device="cpu", lr_scale=scale)
        return train_batched(spec, toy_split(), settings, progress=False)

    together = train([0, 0, 1], 1e-2, [1.0, 0.1, 0.01])  # one seed at two rates, side by side
    for k, (seed, lr) in enumerate([(0, 1e-2), (0, 1e-3), (1, 1e-4)]):
        alone = train([seed], lr)
        rows = together.history.iloc[k::3].reset_index(drop=True)
        np.testing.assert_allclose(rows.drop(columns="seed").to_numpy(),
                                   alone.history.drop(columns="seed").to_numpy(),
                                   rtol=1e-4, atol=1e-4)
        for name, value in alone.best.items():
            torch.testing.assert_close(together.best[name][k], value[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="2 factors for 3 models"):
        train([0, 1, 2], 1e-2, [1.0, 0.5])


def test_keeps_parameters_of_best_validation_epoch():
    split = toy_split()
    result = run([0, 1], epochs=6, split=split, lr=2e-2)  # large lr: validation accuracy wobbles
    data = to_device(split, torch.device("cpu"))
    _, kept_val = evaluate(load_models(result.to_checkpoint(), "best"), *data["validation"])
    for k, seed in enumerate(result.seeds):
        h = result.history[(result.history.seed == seed) & (result.history.epoch >= 1)]
        first_best = int(h.epoch.to_numpy()[np.argmax(h.validation_acc.to_numpy())])
        assert result.best_epoch[k] == first_best
        assert kept_val[k] == pytest.approx(h.validation_acc.max())


def test_learning_rate_decays_after_every_epoch():
    result = run([0], epochs=4)
    lr = result.history.groupby("epoch").lr.first()
    np.testing.assert_allclose(lr.loc[1:].to_numpy(), 3e-3 * 0.9 ** np.arange(4))


def test_snapshots_initial_state_and_determinism():
    a = run([0, 1], epochs=3, snapshots=[1, 3])
    b = run([0, 1], epochs=3, snapshots=[1, 3])
    assert sorted(a.snapshots) == [1, 3]
    for name in a.best:
        assert torch.equal(a.best[name], b.best[name])
        assert torch.equal(a.snapshots[1][name], b.snapshots[1][name])
    assert a.history.equals(b.history)
    # the initial state is the untrained one: its accuracy is the epoch-0 row
    data = to_device(toy_split(), torch.device("cpu"))
    _, acc0 = evaluate(load_models(a.to_checkpoint(), "initial"), *data["train"])
    np.testing.assert_allclose(acc0, a.history[a.history.epoch == 0].train_acc.to_numpy())
    _, acc3 = evaluate(load_models(a.to_checkpoint(), 3), *data["train"])
    np.testing.assert_allclose(acc3, a.history[a.history.epoch == 3].train_acc.to_numpy())


@pytest.mark.parametrize("activation,lr", [("relu", 1e-2), ("sigmoid", 1e-1), ("tanh", 1e-2)])
def test_it_learns(activation, lr):
    result = run([0, 1], activation=activation, epochs=8, lr=lr)
    h = result.history
    assert (h[h.epoch == 8].train_acc.to_numpy() > h[h.epoch == 0].train_acc.to_numpy() + 30).all()
    assert (h[h.epoch == 8].train_loss.to_numpy() < h[h.epoch == 0].train_loss.to_numpy()).all()


def test_device_auto_and_unavailable_cuda():
    from activation_study.network.model import resolve_device
    from activation_study.params.validated import ParamError

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ParamError, match="train.device"):
            resolve_device("cuda")
