"""A dataset of your own: an NPZ file under datasets/, named in data.files and grid.datasets.

The reader (``read_user_file``) takes good files in both layouts and refuses every bad one by
name, never unpickling anything; the schema refuses bad ``data.files`` entries; and the real
pipeline trains on such a file end to end, reruns when it changes, and stops at its download
stage when the file is bad.
"""

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from activation_study.common.errors import DataError, ParamError
from activation_study.common.param_reader import data_params
from activation_study.data.split import split_dataset
from activation_study.data.user_files import array_shapes, read_user_file
from activation_study.network.model import ModelSpec, as_inputs
from activation_study.network.stored import read_models
from activation_study.params.validated import check
from activation_study.pipeline.dag import plain_name
from activation_study.pipeline.plan import file_sizes, split_sizes
from tests.test_pipeline_e2e import init_project, sh, stale_stages, tiny_params, write_params

CLASSES = ["a", "b", "c"]
RNG = np.random.default_rng(0)


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """A folder with datasets/ in it, the working directory (paths must lie in datasets/)."""
    (tmp_path / "datasets").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def save(name: str, **arrays) -> str:
    """``arrays`` as datasets/<name> (np.savez); the path as params.yaml gives it."""
    path = f"datasets/{name}"
    np.savez(path, **arrays)
    return path


def images(n: int, dtype=np.uint8) -> np.ndarray:
    if dtype == np.uint8:
        return RNG.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    return RNG.normal(size=(n, 4, 4)).astype(dtype)


def labels(n: int, classes: int = 3) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % classes


def good_whole(n: int = 30, dtype=np.float64) -> dict:
    return {"x": images(n, dtype), "y": labels(n)}


def good_split(n_train: int = 30, n_test: int = 12, dtype=np.uint8) -> dict:
    return {"x_train": images(n_train, dtype), "y_train": labels(n_train),
            "x_test": images(n_test, dtype), "y_test": labels(n_test)}


def refused(path, *words: str, classes=CLASSES, sha256=None) -> str:
    """The DataError message of reading ``path``, checked to name the file and ``words``."""
    with pytest.raises(DataError) as info:
        read_user_file("blobs", path, classes, sha256)
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- read_user_file: good files ----------------------------------------------------------


def test_split_layout_of_uint8_images_is_read_as_it_is(here):
    arrays = good_split()
    path = save("digits_like.npz", **arrays)
    dataset = read_user_file("blobs", path, CLASSES)
    assert dataset.name == "blobs" and dataset.classes == CLASSES
    assert set(dataset.parts) == {"train", "test"}
    for part in ("train", "test"):
        x, y = dataset.parts[part]
        assert x.dtype == np.uint8 and x.shape[1:] == (4, 4)
        np.testing.assert_array_equal(x, arrays[f"x_{part}"])
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, arrays[f"y_{part}"])
    assert path in dataset.source and sha(path)[:12] in dataset.source


def test_whole_layout_of_float_images_is_read_as_float32(here):
    arrays = good_whole(dtype=np.float64)
    arrays["y"] = arrays["y"].astype(np.uint8)  # any integer type of labels
    path = save("floats.npz", **arrays)
    dataset = read_user_file("blobs", path, CLASSES, sha256=sha(path).upper())
    assert set(dataset.parts) == {"all"}
    x, y = dataset.parts["all"]
    assert x.dtype == np.float32 and x.shape == (30, 4, 4)
    np.testing.assert_allclose(x, arrays["x"], rtol=1e-6)
    assert y.dtype == np.int64 and y.tolist() == arrays["y"].tolist()


def test_images_are_flattened_by_the_split_and_scaled_only_when_uint8(here):
    params = data_params(tiny_params())
    whole = read_user_file("blobs", save("whole.npz", **good_whole(100, np.float32)), CLASSES)
    split = split_dataset(whole, params)
    assert [len(split[p][1]) for p in ("train", "validation", "test")] == [70, 10, 20]
    assert all(x.shape[1:] == (16,) and x.dtype == np.float32 for x, _ in split.values())

    official = read_user_file("blobs", save("split.npz", **good_split(200, 12)), CLASSES)
    small = dataclasses.replace(params, validation_size=100)
    split = split_dataset(official, small)
    assert [len(split[p][1]) for p in ("train", "validation", "test")] == [100, 100, 12]
    assert all(x.shape[1:] == (16,) and x.dtype == np.uint8 for x, _ in split.values())

    pixels = np.array([[0, 255, 51]], dtype=np.uint8)
    assert as_inputs(pixels, "cpu")[0].tolist() == pytest.approx([0.0, 1.0, 0.2])
    floats = np.array([[-3.5, 0.0, 300.0]], dtype=np.float32)
    assert torch.equal(as_inputs(floats, "cpu"), torch.tensor([[-3.5, 0.0, 300.0]]))


def test_array_shapes_reads_the_headers_without_loading(here, monkeypatch):
    path = save("shapes.npz", **good_split(30, 12))

    def no_load(*args, **kwargs):
        raise AssertionError("array_shapes loaded the arrays")

    monkeypatch.setattr(np, "load", no_load)
    assert array_shapes(path) == {"x_train": (30, 4, 4), "y_train": (30,),
                                  "x_test": (12, 4, 4), "y_test": (12,)}
    with pytest.raises(DataError, match="inside datasets/"):
        array_shapes("datasets/../shapes.npz")


def test_the_plan_counts_a_file_as_the_split_stage_splits_it(here):
    params = tiny_params()
    params["grid"]["datasets"] = ["blobs"]
    params["plots"]["configs"] = []
    for n in (600, 97, 1001):
        path = save(f"n{n}.npz", **good_whole(n, np.float32))
        params["data"]["files"] = {"blobs": {"path": path, "classes": CLASSES, "sha256": None}}
        split = split_dataset(read_user_file("blobs", path, CLASSES), data_params(params))
        expected = tuple(len(split[p][1]) for p in ("train", "validation", "test"))
        assert file_sizes("blobs", params) == (16, expected)
        assert split_sizes("blobs", params) == expected
    path = save("official.npz", **good_split(5100, 12))  # validation: data.validation_size
    params["data"]["files"] = {"blobs": {"path": path, "classes": CLASSES, "sha256": None}}
    assert file_sizes("blobs", params) == (16, (100, 5000, 12))


# --- read_user_file: refusals, each naming the file and the problem -----------------------


def test_a_missing_key_is_refused(here):
    arrays = good_split()
    del arrays["y_test"]
    refused(save("missing.npz", **arrays), "expected x_train, y_train, x_test, y_test")
    refused(save("only_x.npz", x=images(5)), "has x;", "expected")


def test_an_extra_key_is_refused(here):
    refused(save("extra.npz", **good_whole(), notes=np.zeros(3)), "unexpected arrays notes")
    refused(save("both.npz", **good_whole(), **good_split()), "unexpected arrays x, y")


def test_labels_and_inputs_of_different_lengths_are_refused(here):
    refused(save("lengths.npz", x=images(10), y=labels(9)), "'y' has shape (9,)", "(10,)")
    arrays = good_split()
    arrays["y_test"] = labels(11)
    refused(save("lengths_test.npz", **arrays), "'y_test'", "x_test")


def test_float_labels_are_refused(here):
    arrays = good_whole()
    arrays["y"] = arrays["y"].astype(np.float64)  # whole numbers, but not integers
    refused(save("float_labels.npz", **arrays), "'y'", "float64", "integer labels")


@pytest.mark.parametrize("bad", [3, 7, -1])
def test_a_label_outside_the_classes_is_refused(here, bad):
    arrays = good_split()
    arrays["y_train"][5] = bad
    refused(save("labels.npz", **arrays), "'y_train'", f"label {bad}", "[0, 3)")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(here, value):
    arrays = good_whole(dtype=np.float32)
    arrays["x"][3, 1, 2] = value
    refused(save("nan.npz", **arrays), "'x'", "non-finite")


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.bool_])
def test_inputs_other_than_uint8_or_float_are_refused(here, dtype):
    arrays = good_whole()
    arrays["x"] = arrays["x"].astype(dtype)
    refused(save("ints.npz", **arrays), "'x'", f"dtype {np.dtype(dtype)}", "uint8", "float")


def test_inputs_of_no_samples_or_one_dimension_are_refused(here):
    refused(save("flat.npz", x=np.zeros(5, np.float32), y=labels(5)), "'x' has shape (5,)")
    refused(save("none.npz", x=np.zeros((0, 4), np.float32), y=labels(0)), "'x'", "(0, 4)")


def test_train_and_test_parts_that_differ_are_refused(here):
    arrays = good_split()
    arrays["x_test"] = images(12)[:, :3]
    refused(save("shapes.npz", **arrays), "differ in sample shape")
    arrays = good_split()
    arrays["x_test"] = arrays["x_test"].astype(np.float32)
    refused(save("dtypes.npz", **arrays), "differ in dtype")


class Payload:
    """Unpickled, it creates ``marker``: a file that holds it must never be unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_object_arrays_are_refused_and_never_unpickled(here):
    refused(save("dicts.npz", x=np.array([{"a": 1}], dtype=object), y=labels(1)),
            "pickled object array", "refused")

    # the payload is real: unpickling it creates its marker
    probe = here / "probe"
    np.savez("probe.npz", x=np.array([Payload(probe)], dtype=object))
    with np.load("probe.npz", allow_pickle=True) as npz:
        npz["x"]
    assert probe.exists()

    marker = here / "marker"
    path = save("payload.npz", x=np.array([Payload(marker)], dtype=object), y=labels(1))
    refused(path, "pickled object array")
    assert array_shapes(path) == {"x": (1,), "y": (1,)}  # headers only: nothing unpickled
    assert not marker.exists()


def test_a_wrong_sha256_is_refused(here):
    path = save("hashed.npz", **good_whole())
    wrong = "0" * 64
    refused(path, "SHA-256", sha(path), wrong, "data.files.blobs.sha256", sha256=wrong)


def test_a_path_outside_datasets_is_refused(here):
    np.savez(here / "evil.npz", **good_whole())  # a good file, in the wrong place
    refused("datasets/../evil.npz", "must lie inside datasets/")
    refused(str(here / "evil.npz"), "must lie inside datasets/")
    (here / "datasets" / "link.npz").symlink_to(here / "evil.npz")
    refused("datasets/link.npz", "must lie inside datasets/")


def test_a_missing_file_is_refused(here):
    refused("datasets/absent.npz", "file not found", "data.files.blobs.path")


def test_a_file_that_is_no_npz_is_refused(here):
    garbage = Path("datasets/garbage.npz")
    garbage.write_bytes(bytes(range(256)) * 4)
    refused(garbage, "not a readable NPZ file")
    with pytest.raises(DataError, match="not a readable NPZ file"):
        array_shapes(garbage)
    empty = Path("datasets/empty.npz")
    empty.write_bytes(b"")
    refused(empty, "not a readable NPZ file")
    whole = Path(save("whole.npz", **good_whole()))
    truncated = Path("datasets/truncated.npz")
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    refused(truncated, "not a readable NPZ file")


def test_a_npy_file_named_npz_is_refused(here):
    with open("datasets/single.npz", "wb") as stream:
        np.save(stream, images(5))
    refused("datasets/single.npz", "not a readable NPZ file")


def test_an_archive_member_that_is_no_array_is_refused(here):
    path = Path("datasets/member.npz")
    good = Path(save("good.npz", **good_whole()))
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"not an array at all")
        archive.writestr("y.npy", source.read("y.npy"))
    refused(path, "'x'")


# --- the schema: data.files and grid.datasets ----------------------------------------------


def with_files(files: dict, datasets: list[str]) -> dict:
    params = tiny_params()
    params["grid"]["datasets"] = datasets
    params["plots"]["configs"] = []
    params["data"]["files"] = files
    return params


def blobs(**changes) -> dict:
    return {"path": "datasets/blobs.npz", "classes": CLASSES, "sha256": None, **changes}


def refused_params(params: dict, *words: str) -> str:
    with pytest.raises(ParamError) as info:
        check(params)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    return message


def test_tiny_params_has_no_files_and_a_file_entry_is_accepted():
    assert tiny_params()["data"]["files"] == {}
    params = check(with_files({"blobs": blobs(sha256="AB" * 32)}, ["mnist5k", "blobs"]))
    assert params.data.files["blobs"].classes == CLASSES
    assert params.data.files["blobs"].sha256 == "AB" * 32
    check(with_files({"blobs": {"path": "datasets/sub/blobs.v2.npz", "classes": ["x", "y"]}},
                     ["blobs"]))


def test_a_dataset_without_a_file_entry_is_refused():
    message = refused_params(with_files({}, ["mnist5k", "blobs"]),
                             "'grid.datasets'", "'blobs'", "data.files")
    assert len(message.splitlines()) == 1


def test_a_file_entry_named_like_a_built_in_set_is_refused():
    refused_params(with_files({"digits": blobs()}, ["digits"]), "data.files", "'digits'",
                   "built-in")


@pytest.mark.parametrize("path", ["data/blobs.npz", "blobs.npz", "datasets/blobs.npy",
                                  "datasets/blobs.npz.txt", "datasets/../blobs.npz",
                                  "datasets/sub/../../blobs.npz", "datasets/..",
                                  "/abs/datasets/blobs.npz", "./datasets/blobs.npz"])
def test_a_path_not_of_an_npz_inside_datasets_is_refused(path):
    refused_params(with_files({"blobs": blobs(path=path)}, ["blobs"]),
                   "'data.files.blobs.path'", repr(path))


@pytest.mark.parametrize("digest", ["xyz", "0" * 63, "0" * 65, "g" * 64, ""])
def test_a_bad_sha256_is_refused(digest):
    refused_params(with_files({"blobs": blobs(sha256=digest)}, ["blobs"]),
                   "'data.files.blobs.sha256'", "64 hexadecimal digits")


def test_a_dataset_name_with_a_dash_is_refused():
    refused_params(with_files({"my-set": blobs()}, ["digits"]), "data.files", "'my-set'")
    refused_params(with_files({"my_set": blobs()}, ["my-set"]), "grid.datasets", "'my-set'")


def test_a_file_entry_with_an_unknown_key_or_no_classes_is_refused():
    refused_params(with_files({"blobs": blobs(labels=3)}, ["blobs"]),
                   "unknown key 'data.files.blobs.labels'")
    refused_params(with_files({"blobs": blobs(classes=[])}, ["blobs"]),
                   "'data.files.blobs.classes'")
    refused_params(with_files({"blobs": blobs(classes=["a", "a"])}, ["blobs"]),
                   "'data.files.blobs.classes'")


# --- end to end: the real pipeline on a file of your own -----------------------------------

CONFIG = "blobs-relu-d1-w16-bnfalse"
TRAIN_STAGE = "train@blobs-relu-1-16-False"
TUNE_STAGE = "tune@blobs-relu-1-16-False"


def write_blobs(project: Path, seed: int, bad_label: bool = False) -> str:
    """make_classification's 600 samples of 20 features and 3 classes as datasets/blobs.npz;
    its SHA-256."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=600, n_features=20, n_informative=8, n_classes=3,
                               random_state=seed)
    y = y.astype(np.int64)
    if bad_label:
        y[17] = 3
    (project / "datasets").mkdir(exist_ok=True)
    path = project / "datasets" / "blobs.npz"
    np.savez(path, x=x.astype(np.float32), y=y)
    return sha(path)


def blobs_params(digest: str | None) -> dict:
    params = tiny_params()
    params["grid"].update(datasets=["blobs"], activations=["relu"], depths=[1], widths=[16],
                          batchnorm=[False])
    params["train"].update(epochs=10, snapshot_epochs=[1])
    params["plots"]["configs"] = []
    params["data"]["files"] = {"blobs": blobs(classes=["a", "b", "c"], sha256=digest)}
    return params


def ran(proc) -> set[str]:
    return {plain_name(line.split("'")[1]) for line in proc.stdout.splitlines()
            if line.startswith("Running stage")}


@pytest.mark.e2e
def test_the_pipeline_trains_on_a_file_of_your_own_and_refuses_a_bad_one(tmp_path):
    project = init_project(tmp_path / "project", blobs_params(None))

    # a bad file stops the pipeline at its download stage, naming the file and the label
    write_params(project, blobs_params(write_blobs(project, seed=0, bad_label=True)))
    proc = sh("dvc", "repro", cwd=project, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "datasets/blobs.npz" in output and "label 3" in output, output
    assert "download@blobs" in output
    assert not any(s.startswith(("split@", "tune@", "train@")) for s in ran(proc)), output
    assert not (project / "data/train").exists() and not (project / "data/split").exists()

    # the good file: the whole study runs on it
    write_params(project, blobs_params(write_blobs(project, seed=0)))
    proc = sh("dvc", "repro", cwd=project)
    assert {"download@blobs", "split@blobs", TRAIN_STAGE} <= ran(proc)
    split = json.loads((project / "metrics/split/blobs.json").read_text())
    assert split["num_classes"] == 3 and split["input_dim"] == 20
    assert [split["parts"][p]["count"] for p in ("train", "validation", "test")] == [420, 60, 120]
    assert all(len(part["class_counts"]) == 3 for part in split["parts"].values())
    assert json.loads((project / "data/split/blobs/classes.json").read_text()) == ["a", "b", "c"]
    assert np.load(project / "data/split/blobs/x_train.npy").dtype == np.float32

    models = read_models(project / f"data/train/{CONFIG}/models.pt")
    assert models["spec"]["num_classes"] == 3 and models["spec"]["input_dim"] == 20
    assert ModelSpec(**models["spec"]).layer_dims()[-1] == (16, 3)  # a logit a class
    metrics = json.loads((project / f"metrics/train/{CONFIG}.json").read_text())
    assert metrics["test_acc"]["mean"] > 50, metrics["test_acc"]  # chance: 33 %
    headline = json.loads((project / "metrics/summarize/headline.json").read_text())
    assert list(headline) == [CONFIG]
    assert "blobs" in (project / "reports/study.md").read_text()
    assert stale_stages(project) == set()

    # a changed file (and its new hash) makes its download stale, then its split, then its
    # training (`dvc status` lists the stages whose own dependencies changed: a layer a time)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "results", cwd=project)
    write_params(project, blobs_params(write_blobs(project, seed=1)))
    assert stale_stages(project) == {"validate", "download@blobs"}
    assert ran(sh("dvc", "repro", "download@blobs", cwd=project)) == {"validate",
                                                                     "download@blobs"}
    assert stale_stages(project) == {"split@blobs"}
    assert ran(sh("dvc", "repro", "split@blobs", cwd=project)) == {"split@blobs"}
    assert {TUNE_STAGE, TRAIN_STAGE} <= stale_stages(project)
    retrain = sh("dvc", "repro", f"pipelines/train/dvc.yaml:{TRAIN_STAGE}", cwd=project)
    assert ran(retrain) == {TUNE_STAGE, TRAIN_STAGE}
    changed = json.loads((project / f"metrics/train/{CONFIG}.json").read_text())
    assert changed["test_acc"] != metrics["test_acc"]
