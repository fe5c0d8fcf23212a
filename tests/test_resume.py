"""Resume checkpoints (activation_study.training.checkpoints): an interrupted run resumed from its
checkpoint ends bit for bit where an uninterrupted run ends; a checkpoint made with other
inputs is never used, a corrupt one is ignored with a warning."""

import io

import numpy as np
import pytest
import torch

from activation_study.network.model import ModelSpec
from activation_study.training.checkpoints import Checkpoint, CheckpointWarning, fingerprint
from activation_study.training.engine import TrainSettings, train_batched
from tests.test_engine import toy_split

SPEC = ModelSpec(input_dim=20, depth=2, width=16, batchnorm=True, activation="relu")


class Interrupted(Exception):
    pass


def settings(epochs=7, scale=None, seeds=(0, 1)):
    return TrainSettings(seeds=list(seeds), epochs=epochs, batch_size=32, lr=3e-3, lr_decay=0.9,
                         snapshot_epochs=[1, 4], device="cpu", lr_scale=scale)


def train(checkpoint=None, stop_at=None, scale=None, logged=None):
    def on_epoch(epoch, metrics):
        if logged is not None:
            logged.append((epoch, {k: v.tolist() for k, v in metrics.items()}))
        if epoch == stop_at:
            raise Interrupted

    return train_batched(SPEC, toy_split(), settings(scale=scale), on_epoch=on_epoch,
                         progress=False, checkpoint=checkpoint)


def saved_bytes(result) -> bytes:
    buffer = io.BytesIO()
    torch.save(result.to_checkpoint(), buffer)
    return buffer.getvalue()


def assert_identical(a, b):
    assert saved_bytes(a) == saved_bytes(b)
    assert a.history.to_csv() == b.history.to_csv()
    np.testing.assert_array_equal(a.best_epoch, b.best_epoch)


@pytest.mark.parametrize("scale", [None, [1.0, 0.1]])
def test_interrupted_runs_resume_bit_for_bit(tmp_path, scale, capsys):
    plain_log = []
    plain = train(scale=scale, logged=plain_log)
    checkpoint = Checkpoint(tmp_path / "train.pt", "same inputs", every=2)
    for stop_at in (3, 6):  # killed after the checkpoints of epochs 2 and 6... then 4
        with pytest.raises(Interrupted):
            train(checkpoint, stop_at=stop_at, scale=scale)
        assert checkpoint.path.is_file()
    resumed_log = []
    capsys.readouterr()
    resumed = train(checkpoint, scale=scale, logged=resumed_log)
    assert f"resuming from epoch 4 of 7 ({checkpoint.path})" in capsys.readouterr().err
    assert_identical(plain, resumed)
    assert resumed_log == plain_log  # the callback saw every epoch, the early ones replayed


def test_checkpoint_of_other_inputs_is_not_used(tmp_path):
    with pytest.raises(Interrupted):
        train(Checkpoint(tmp_path / "train.pt", "inputs A", every=2), stop_at=5)
    other = Checkpoint(tmp_path / "train.pt", "inputs B", every=2)
    with pytest.warns(CheckpointWarning, match="not used, it was made with other inputs"):
        assert other.load() is None
    logged = []
    with pytest.warns(CheckpointWarning):
        train(other, logged=logged)
    assert logged[0][0] == 0 and len(logged) == 8  # trained from epoch 0, not resumed


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_checkpoint_is_ignored_with_a_warning(tmp_path, damage):
    checkpoint = Checkpoint(tmp_path / "train.pt", "x", every=2)
    with pytest.raises(Interrupted):
        train(checkpoint, stop_at=3)
    data = checkpoint.path.read_bytes()
    if damage == "truncate":
        checkpoint.path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        checkpoint.path.write_bytes(b"\0" * 100)
    else:
        torch.save([1, 2, 3], checkpoint.path)
    with pytest.warns(CheckpointWarning, match="not used"):
        assert checkpoint.load() is None
    with pytest.warns(CheckpointWarning):
        assert_identical(train(checkpoint), train())


def test_fingerprint_covers_inputs_data_and_code():
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    base = fingerprint({"lr": 1e-3}, [x])
    assert fingerprint({"lr": 1e-3}, [x.copy()]) == base
    assert fingerprint({"lr": 2e-3}, [x]) != base
    y = x.copy()
    y[0, 0] += 1
    assert fingerprint({"lr": 1e-3}, [y]) != base
    assert fingerprint({"lr": 1e-3}, [x.reshape(4, 3)]) != base


def test_checkpoint_is_due_every_n_epochs_but_not_after_the_last(tmp_path):
    checkpoint = Checkpoint(tmp_path / "c.pt", "x", every=3)
    assert [e for e in range(1, 10) if checkpoint.due(e, 9)] == [3, 6]


def test_initial_and_snapshots_are_written_once_beside_the_state(tmp_path):
    """They never change once made: parts of their own; a state whose parts are gone is
    not resumed from."""
    checkpoint = Checkpoint(tmp_path / "train.pt", "x", every=2)
    with pytest.raises(Interrupted):
        train(checkpoint, stop_at=5)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["train-initial.pt", "train-snapshot-1.pt", "train-snapshot-4.pt",
                     "train.pt"]
    state = torch.load(checkpoint.path, weights_only=True)["state"]
    assert state["frozen"] == ["initial", "snapshot-1", "snapshot-4"] and state["epoch"] == 4
    assert "initial" not in state and "snapshots" not in state
    checkpoint.part("snapshot-1").path.unlink()
    with pytest.warns(CheckpointWarning, match="missing"):
        assert_identical(train(checkpoint), train())
    checkpoint.remove()
    assert list(tmp_path.iterdir()) == []
