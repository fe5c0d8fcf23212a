"""Readers, the local-mirror download path, the common format and the split, on tiny files
written here in the real published formats."""

import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from activation_study.common.errors import DataError
from activation_study.data import sources
from activation_study.data.arrays import load_split
from activation_study.data.readers import read_cifar_batch, read_idx
from activation_study.data.split import save_split, split_dataset
from activation_study.data.store import load_download, save_download
from activation_study.params.validated import DataParams, ParamError

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
TINY_COUNTS = {"train": 60, "test": 20}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_mnist_mirror(folder: Path, name: str = "mnist", seed: int = 0) -> dict:
    """The four published IDX .gz files of a tiny MNIST-like set; returns the arrays."""
    rng = np.random.default_rng(seed)
    (folder / name).mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, (images_file, labels_file) in sources.IDX_FILES.items():
        n = TINY_COUNTS[part]
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        (folder / name / images_file).write_bytes(gzip.compress(idx_bytes(images)))
        (folder / name / labels_file).write_bytes(gzip.compress(idx_bytes(labels)))
        arrays[part] = (images, labels)
    return arrays


def write_cifar_mirror(folder: Path, per_batch: int = 12) -> None:
    rng = np.random.default_rng(1)
    batches = folder / "cifar10" / sources.CIFAR_DIR
    batches.mkdir(parents=True)
    for name in sources.CIFAR_FILES["train"] + sources.CIFAR_FILES["test"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        with open(batches / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": list(np.arange(per_batch) % 10)}, f)


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "mnist", dict(TINY_COUNTS))
    monkeypatch.delitem(sources.PUBLISHED_SHA256, "mnist")  # tiny files: not the published ones
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "cifar10", {"train": 60, "test": 12})


def test_idx_roundtrip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(path), images)


@pytest.mark.parametrize("damage,message", [
    (lambda raw: gzip.compress(raw[:-5]), "expected 24 bytes"),
    (lambda raw: gzip.compress(raw + b"\0"), "expected 24 bytes"),
    (lambda raw: gzip.compress(raw)[:-12], "truncated or corrupted"),
    (lambda raw: gzip.compress(b"\x00\x00\x0d\x03" + raw[4:]), "magic"),
])
def test_damaged_idx_is_refused_naming_the_file(tmp_path, damage, message):
    raw = idx_bytes(np.zeros((2, 3, 4)))
    path = tmp_path / "damaged-idx3-ubyte.gz"
    path.write_bytes(damage(raw))
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_local_mirror_mnist_into_common_format(tmp_path, tiny_counts):
    arrays = write_mnist_mirror(tmp_path / "mirror")
    dataset = sources.fetch("mnist", tmp_path / "mirror")
    assert dataset.source == f"local {tmp_path / 'mirror' / 'mnist'}"
    for part, (images, labels) in arrays.items():
        np.testing.assert_array_equal(dataset.parts[part][0], images)
        np.testing.assert_array_equal(dataset.parts[part][1], labels)
    save_download(tmp_path / "out", dataset)
    again = load_download(tmp_path / "out")
    np.testing.assert_array_equal(again.parts["train"][0], arrays["train"][0])
    assert again.classes == sources.CLASSES["mnist"]


def test_published_checksums_are_checked_naming_the_file(tmp_path, monkeypatch, tiny_counts):
    """The content (decompressed) must be the published file's: recompressed copies pass,
    other bytes do not."""
    import hashlib

    write_mnist_mirror(tmp_path / "mirror", name="fashion-mnist")  # Debian's folder name
    folder = tmp_path / "mirror" / "fashion-mnist"
    known = {f.name: hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest()
             for f in folder.iterdir()}
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "fashion_mnist", dict(TINY_COUNTS))
    monkeypatch.setitem(sources.PUBLISHED_SHA256, "fashion_mnist", known)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()), compresslevel=1))
    dataset = sources.fetch("fashion_mnist", tmp_path / "mirror")
    assert dataset.source == f"local {folder}" and len(dataset.parts["test"][1]) == 20
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="expected " + known[labels.name]) as err:
        sources.fetch("fashion_mnist", tmp_path / "mirror")
    assert str(labels) in str(err.value)


def test_the_system_dataset_folder_is_searched(tmp_path, monkeypatch, tiny_counts):
    """Without data.local_dir, the published files in the system's folder (Debian's
    /usr/share/datasets) are read before torchvision is tried."""
    arrays = write_mnist_mirror(tmp_path / "system", name="mnist")
    monkeypatch.setenv(sources.SYSTEM_DATA_ENV, str(tmp_path / "system"))
    dataset = sources.fetch("mnist", None)
    assert dataset.source == f"local {tmp_path / 'system' / 'mnist'}"
    np.testing.assert_array_equal(dataset.parts["train"][0], arrays["train"][0])
    monkeypatch.setenv(sources.SYSTEM_DATA_ENV, str(tmp_path / "empty"))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        sources.fetch("fashion_mnist", None)


def test_short_dataset_is_refused(tmp_path, monkeypatch):
    monkeypatch.delitem(sources.PUBLISHED_SHA256, "mnist")
    write_mnist_mirror(tmp_path)
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "mnist", {"train": 61, "test": 20})
    with pytest.raises(DataError, match="expected 61"):
        sources.fetch("mnist", tmp_path)


def test_missing_files_are_listed(tmp_path):
    with pytest.raises(DataError) as err:
        sources.fetch("fashion_mnist", tmp_path)
    for _, pair in sources.IDX_FILES.items():
        for name in pair:
            assert str(tmp_path / "fashion_mnist" / name) in str(err.value)


def test_cifar_batches_and_archive(tmp_path, tiny_counts):
    write_cifar_mirror(tmp_path / "a")
    dataset = sources.fetch("cifar10", tmp_path / "a")
    assert dataset.parts["train"][0].shape == (60, 3, 32, 32)
    assert dataset.parts["test"][1].dtype == np.int64
    import tarfile

    (tmp_path / "b" / "cifar10").mkdir(parents=True)
    with tarfile.open(tmp_path / "b" / "cifar10" / sources.CIFAR_ARCHIVE, "w:gz") as tar:
        tar.add(tmp_path / "a" / "cifar10" / sources.CIFAR_DIR, arcname=sources.CIFAR_DIR)
    from_archive = sources.fetch("cifar10", tmp_path / "b")
    np.testing.assert_array_equal(from_archive.parts["train"][0], dataset.parts["train"][0])


def test_bad_cifar_batch(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f)
    with pytest.raises(DataError, match="3072"):
        read_cifar_batch(path)


def test_corrupted_store_is_detected(tmp_path, tiny_counts):
    write_mnist_mirror(tmp_path / "mirror")
    save_download(tmp_path / "out", sources.fetch("mnist", tmp_path / "mirror"))
    path = tmp_path / "out" / "train_images.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="train_images.npy"):
        load_download(tmp_path / "out")


def params(validation_size=5000, seed=0):
    return DataParams(None, validation_size, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed)


def test_shipped_split_counts_stratification_no_overlap_determinism(tmp_path):
    dataset = sources.read_digits()
    split = split_dataset(dataset, params())
    counts = {part: len(y) for part, (_, y) in split.items()}
    assert counts == {"train": 1257, "validation": 180, "test": 360}
    assert split["train"][0].shape == (1257, 64) and split["train"][0].dtype == np.uint8
    total = np.bincount(dataset.parts["all"][1], minlength=10)
    for _, y in split.values():
        expected = total * len(y) / total.sum()
        assert np.abs(np.bincount(y, minlength=10) - expected).max() <= 1.5
    rows = [set(map(bytes, x)) for x, _ in split.values()]
    all_rows = set(map(bytes, dataset.parts["all"][0].reshape(1797, -1)))
    duplicates_in_source = 1797 - len(all_rows)
    assert len(rows[0] & rows[1]) + len(rows[0] & rows[2]) + len(rows[1] & rows[2]) \
        <= duplicates_in_source
    save_split(tmp_path / "a", split, list("0123456789"))
    save_split(tmp_path / "b", split_dataset(sources.read_digits(), params()), list("0123456789"))
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    loaded = load_split(tmp_path / "a")
    np.testing.assert_array_equal(loaded["test"][1], split["test"][1])
    other_seed = split_dataset(dataset, params(seed=1))
    assert not np.array_equal(other_seed["train"][1], split["train"][1])


def test_official_split(tmp_path, tiny_counts):
    write_mnist_mirror(tmp_path)
    dataset = sources.fetch("mnist", tmp_path)
    split = split_dataset(dataset, params(validation_size=10))
    assert [len(split[p][1]) for p in ("train", "validation", "test")] == [50, 10, 20]
    assert np.bincount(split["validation"][1], minlength=10).tolist() == [1] * 10
    np.testing.assert_array_equal(split["test"][0], dataset.parts["test"][0].reshape(20, -1))
    with pytest.raises(ParamError, match="data.validation_size"):
        split_dataset(dataset, params(validation_size=60))


def test_shipped_sets_are_real():
    mnist5k, digits = sources.read_mnist5k(), sources.read_digits()
    assert mnist5k.parts["all"][0].shape == (5000, 28, 28)
    assert np.bincount(mnist5k.parts["all"][1]).tolist() == [500] * 10
    assert digits.parts["all"][0].shape == (1797, 8, 8)
    assert digits.parts["all"][0].max() == 255 and digits.parts["all"][0].dtype == np.uint8


def test_download_stage_rejects_unknown_dataset(tmp_path):
    (tmp_path / "params.yaml").write_text(TINY_PARAMS.read_text())
    proc = subprocess.run([sys.executable, "-m", "stages.download", "--dataset", "nope"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "grid.datasets" in proc.stderr and "mnist5k" in proc.stderr
