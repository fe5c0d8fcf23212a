"""Hostile dataset files are refused before they can act: a CIFAR-10 batch whose pickle names
a callable (``os.system``, ``open``...) and a CIFAR archive whose members would land outside
the folder it is extracted into. Good files still read."""

import builtins
import io
import os
import pickle
import struct
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest

from activation_study.common.errors import DataError
from activation_study.data import readers, sources
from activation_study.data.readers import read_cifar_batch

PER_BATCH = 12


class RunsCommand:
    """Unpickles as ``os.system(command)``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class OpensForWriting:
    """Unpickles as ``open(path, "w")``: creates (truncates) the file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return builtins.open, (self.path, "w")


def good_batch(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch 1 of 5",
            b"labels": [int(v) for v in np.arange(PER_BATCH) % 10],
            b"data": rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(PER_BATCH)]}


def python2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch as the published files are: written by Python 2's cPickle at protocol 2, with
    ``str`` (bytes) strings and ``numpy.core.multiarray._reconstruct`` for the array."""

    def string(value: bytes) -> bytes:  # SHORT_BINSTRING or BINSTRING: bytes under "bytes"
        if len(value) < 256:
            return b"U" + bytes([len(value)]) + value
        return b"T" + struct.pack("<i", len(value)) + value

    def small_int(value: int) -> bytes:
        return b"K" + bytes([value])

    dtype = (b"cnumpy\ndtype\n" + string(b"u1") + small_int(0) + small_int(1) + b"\x87R"
             + b"(" + small_int(3) + string(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2
             + small_int(0) + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n"
             + small_int(0) + b"\x85" + string(b"b") + b"\x87R"
             + b"(" + small_int(1) + b"J" + struct.pack("<i", data.shape[0])
             + b"J" + struct.pack("<i", data.shape[1]) + b"\x86" + dtype + b"\x89"
             + string(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(small_int(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + string(b"batch_label") + string(b"training batch 1 of 5")
            + string(b"data") + array + string(b"labels") + label_list + b"u.")


def write_mirror(folder: Path) -> Path:
    """A tiny local CIFAR-10 folder (see tests/test_data.py); returns the batches' folder."""
    batches = folder / "cifar10" / sources.CIFAR_DIR
    batches.mkdir(parents=True)
    for seed, name in enumerate(sources.CIFAR_FILES["train"] + sources.CIFAR_FILES["test"]):
        (batches / name).write_bytes(pickle.dumps(good_batch(seed)))
    return batches


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "cifar10",
                        {"train": 5 * PER_BATCH, "test": PER_BATCH})


# -- CIFAR-10 batches: a restricted unpickler ------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_good_batch_reads_at_any_protocol(tmp_path, protocol):
    batch = good_batch()
    batch[b"labels"] = list(np.arange(PER_BATCH) % 10)  # numpy scalars, as tests/test_data.py
    batch[b"empty"] = b""
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    images, labels = read_cifar_batch(path)
    assert images.shape == (PER_BATCH, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(PER_BATCH, -1), batch[b"data"])
    np.testing.assert_array_equal(labels, np.arange(PER_BATCH) % 10)


def test_published_python2_batch_reads(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
    labels = [int(v) for v in np.arange(PER_BATCH) % 10]
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_batch(data, labels))
    assert pickle.loads(path.read_bytes(), encoding="bytes")[b"labels"] == labels  # well formed
    images, read_labels = read_cifar_batch(path)
    np.testing.assert_array_equal(images.reshape(PER_BATCH, -1), data)
    np.testing.assert_array_equal(read_labels, labels)


def hostile_payloads(target: Path) -> dict[str, tuple[object, str]]:
    """Pickled objects that would create ``target`` while loading, and the global each names."""
    return {"os.system": (RunsCommand(f"touch {target}"), f"{os.system.__module__}.system"),
            "open": (OpensForWriting(target), "io.open"),
            "nested": ({b"data": np.zeros((1, 3072), np.uint8),
                        b"labels": [OpensForWriting(target)]}, "io.open")}


@pytest.mark.parametrize("payload", ["os.system", "open", "nested"])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_crafted_batch_is_refused_and_runs_nothing(tmp_path, payload, protocol):
    target = tmp_path / "PWNED"
    obj, spelled = hostile_payloads(target)[payload]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    with pytest.raises(DataError) as err:
        read_cifar_batch(path)
    message = str(err.value)
    assert str(path) in message and "refused" in message
    assert f"global {spelled}" in message
    assert not target.exists()


def test_inst_opcode_is_refused(tmp_path):
    """Protocol 0's INST opcode (class and arguments in one go) is refused the same way."""
    target = tmp_path / "PWNED"
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"(S'touch " + str(target).encode() + b"'\nios\nsystem\n.")
    with pytest.raises(DataError, match=r"data_batch_1.*global os\.system"):
        read_cifar_batch(path)
    assert not target.exists()


def test_crafted_batch_in_a_local_mirror_is_refused(tmp_path, tiny_counts):
    """The download path (``fetch`` from a local folder) goes through the same reader."""
    batches = write_mirror(tmp_path / "mirror")
    assert sources.fetch("cifar10", tmp_path / "mirror").parts["train"][0].shape[0] == 60
    target = tmp_path / "PWNED"
    (batches / "data_batch_1").write_bytes(pickle.dumps(RunsCommand(f"touch {target}")))
    with pytest.raises(DataError, match="data_batch_1.*refused.*system"):
        sources.fetch("cifar10", tmp_path / "mirror")
    assert not target.exists()


def test_any_global_outside_the_list_is_refused(tmp_path):
    """A harmless-looking global (``collections.OrderedDict``) is refused all the same: the
    list is what the CIFAR files need, nothing more."""
    from collections import OrderedDict

    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(OrderedDict(good_batch())))
    with pytest.raises(DataError, match=r"test_batch.*collections\.OrderedDict"):
        read_cifar_batch(path)


def test_codecs_encode_only_rebuilds_latin1_bytes(tmp_path):
    """``_codecs.encode`` is allowed for protocol-2 bytes, but with latin-1 only."""
    assert readers.CIFAR_GLOBALS[("_codecs", "encode")]("\xff", "latin1") == b"\xff"
    crafted = (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.")
    path = tmp_path / "data_batch_1"
    path.write_bytes(crafted)
    with pytest.raises(DataError, match="data_batch_1.*latin-1"):
        read_cifar_batch(path)


def test_unpickler_resolves_only_the_listed_globals():
    unpickler = readers.CifarUnpickler(io.BytesIO(b"."), Path("f"))
    for (module, name), obj in readers.CIFAR_GLOBALS.items():
        assert unpickler.find_class(module, name) is obj
    for module, name in [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                         ("numpy", "load"), ("numpy.core.multiarray", "fromfile"),
                         ("subprocess", "Popen"), ("numpy", "frombuffer")]:
        with pytest.raises(DataError, match=f"{module}.{name}"):
            unpickler.find_class(module, name)


# -- CIFAR-10 archives: nothing outside the extraction folder --------------------------------

def hostile_archive(path: Path, kind: str, outside: Path) -> str:
    """A gzipped tar holding a good batch folder plus one hostile member; returns its name."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{sources.CIFAR_DIR}/data_batch_1")
        payload = pickle.dumps(good_batch())
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
        if kind == "dotdot":
            info = tarfile.TarInfo("../escape.txt")
        elif kind == "dotdot_nested":
            info = tarfile.TarInfo(f"{sources.CIFAR_DIR}/../../escape.txt")
        elif kind == "absolute":
            info = tarfile.TarInfo(str(outside))
        elif kind == "symlink":
            info = tarfile.TarInfo(f"{sources.CIFAR_DIR}/link")
            info.type, info.linkname = tarfile.SYMTYPE, str(outside.parent)
        else:  # a hard link to a file outside
            info = tarfile.TarInfo(f"{sources.CIFAR_DIR}/hard")
            info.type, info.linkname = tarfile.LNKTYPE, str(outside)
        if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            info.size = 6
            tar.addfile(info, io.BytesIO(b"owned\n"))
        else:
            tar.addfile(info)
        return info.name


@pytest.mark.parametrize("kind", ["dotdot", "dotdot_nested", "absolute", "symlink", "hardlink"])
def test_hostile_archive_is_refused_and_writes_nothing_outside(tmp_path, monkeypatch, kind):
    extract_root = tmp_path / "tmp"  # the TemporaryDirectory read_local extracts into
    extract_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(extract_root))
    outside = tmp_path / "outside" / "escape.txt"
    (tmp_path / "cifar10").mkdir()
    archive = tmp_path / "cifar10" / sources.CIFAR_ARCHIVE
    member = hostile_archive(archive, kind, outside)
    with pytest.raises(DataError) as err:
        sources.fetch("cifar10", tmp_path)
    assert str(archive) in str(err.value) and "refused" in str(err.value)
    assert member in str(err.value)
    everything = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert everything == {"tmp", "cifar10", f"cifar10/{sources.CIFAR_ARCHIVE}"}


def test_archive_is_refused_without_tarfile_data_filter(tmp_path, monkeypatch, tiny_counts):
    """An interpreter older than 3.11.4 has no ``tarfile.data_filter``: refuse, do not extract
    unfiltered."""
    batches = write_mirror(tmp_path / "a")
    (tmp_path / "b" / "cifar10").mkdir(parents=True)
    archive = tmp_path / "b" / "cifar10" / sources.CIFAR_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname=sources.CIFAR_DIR)
    assert sources.fetch("cifar10", tmp_path / "b").parts["test"][0].shape[0] == PER_BATCH
    monkeypatch.delattr(tarfile, "data_filter")
    extract_root = tmp_path / "tmp"
    extract_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(extract_root))
    with pytest.raises(DataError, match=r"3\.11\.4"):
        sources.fetch("cifar10", tmp_path / "b")
    assert not any(extract_root.iterdir())
