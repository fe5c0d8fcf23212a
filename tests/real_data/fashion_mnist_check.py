"""The download and split stages on the real Fashion-MNIST files of Debian's package.

Run by ``make test-real-data`` (CI runs it as root after ``apt-get install -y
dataset-fashion-mnist``); not collected by ``make test`` (its name does not start with
``test_``): a machine without the package has nothing real to test here.
"""

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from activation_study.data import sources
from activation_study.data.arrays import load_split
from activation_study.data.store import load_download
from tests.test_pipeline_e2e import init_project, sh, tiny_params

FOLDER = sources.SYSTEM_DATA / sources.PACKAGE_NAMES["fashion_mnist"]


@pytest.fixture(scope="module")
def files() -> Path:
    missing = [name for pair in sources.IDX_FILES.values() for name in pair
               if not (FOLDER / name).is_file()]
    if missing:
        pytest.fail(f"{FOLDER} lacks {missing}: apt-get install dataset-fashion-mnist "
                    "(make test-real-data does it as root)")
    return FOLDER


def test_debian_files_are_the_published_ones(files):
    for name, expected in sources.PUBLISHED_SHA256["fashion_mnist"].items():
        content = gzip.decompress((files / name).read_bytes())
        assert hashlib.sha256(content).hexdigest() == expected, name


def test_download_and_split_stages_read_them_without_any_setting(files, tmp_path):
    params = tiny_params()
    params["grid"]["datasets"] = ["fashion_mnist"]
    params["plots"]["configs"] = []
    params["data"]["local_dir"] = ""
    project = init_project(tmp_path / "project", params)
    sh("dvc", "repro", "split@fashion_mnist", cwd=project)

    download = load_download(project / "data/download/fashion_mnist")
    assert download.source == f"local {files}"
    assert {part: len(y) for part, (_, y) in download.parts.items()} == \
        {"train": 60000, "test": 10000}
    for part, (images, labels) in download.parts.items():
        assert images.shape[1:] == (28, 28) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [len(labels) // 10] * 10, part

    split = load_split(project / "data/split/fashion_mnist")
    counts = {part: np.bincount(y, minlength=10).tolist() for part, (_, y) in split.items()}
    assert counts == {"train": [5500] * 10, "validation": [500] * 10, "test": [1000] * 10}
    assert split["train"][0].shape == (55000, 784)
    train_and_validation = np.concatenate([split["train"][0], split["validation"][0]])
    assert len(np.unique(train_and_validation, axis=0)) == len(
        np.unique(download.parts["train"][0].reshape(60000, -1), axis=0))  # a partition
    np.testing.assert_array_equal(split["test"][0], download.parts["test"][0].reshape(-1, 784))
    summary = json.loads((project / "metrics/split/fashion_mnist.json").read_text())
    assert {part: value["count"] for part, value in summary["parts"].items()} == \
        {"train": 55000, "validation": 5000, "test": 10000}
