"""Datasets of your own: a file of arrays named in ``params.yaml`` (``data.files.<name>``).

The file is an NPZ under ``datasets/`` holding either ``x_train``, ``y_train``, ``x_test`` and
``y_test`` (split like the official sets: ``data.validation_size`` samples of the training
part, stratified, for validation) or ``x`` and ``y`` (split like the shipped sets, by
``data.shipped_fractions``). Images of any shape are flattened by the split; ``uint8`` inputs
are scaled to [0, 1] as the built-in sets are, float inputs are taken as they are (stored as
float32). Labels are integers in ``[0, classes)``, ``classes`` the class names given in
``params.yaml``.

The file is untrusted: it is read with ``allow_pickle=False`` (an object array is refused, never
unpickled), its path must stay inside ``datasets/``, and its SHA-256 is checked when
``params.yaml`` gives one. Every problem is a ``DataError`` naming the file and what is wrong,
raised by the ``download`` stage, before any training.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from activation_study.common.errors import DataError
from activation_study.data.store import Dataset

FOLDER = Path("datasets")
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
WHOLE_KEYS = ("x", "y")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inside_folder(path: Path, folder: Path = FOLDER) -> Path:
    """``path`` if it lies inside ``folder`` (no ``..`` or link out of it), else DataError."""
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DataError(f"{path}: a dataset file must lie inside {folder}/ (the folder the "
                        "download stages depend on)")
    return path


def _arrays(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):  # else np.load reads a .npy, or calls it a pickle
        raise DataError(f"{path}: not a readable NPZ file (not a zip archive; save the arrays "
                        "with np.savez)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: holds a pickled object array; refused (save plain "
                            "numeric arrays, np.savez with numbers only)") from None
        raise DataError(f"{path}: not a readable NPZ file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable NPZ file ({exc})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # a member that is no .npy: NpzFile's bytes
            raise DataError(f"{path}: '{key}' is not a .npy array; not a readable NPZ file")
    return arrays


def _inputs(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path}: '{key}' has shape {x.shape}; expected (samples, features...)")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{path}: '{key}' has dtype {x.dtype}; expected uint8 (scaled by 1/255 "
                        "as the built-in images) or a float type (taken as it is)")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: '{key}' holds non-finite values (NaN or inf)")
    return x.astype(np.float32)


def _labels(path: Path, key: str, y: np.ndarray, classes: int, samples: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != samples:
        raise DataError(f"{path}: '{key}' has shape {y.shape}; expected ({samples},), one label "
                        f"per sample of '{key.replace('y', 'x', 1)}'")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: '{key}' has dtype {y.dtype}; expected integer labels")
    bad = y[(y < 0) | (y >= classes)]
    if len(bad):
        raise DataError(f"{path}: '{key}' holds label {int(bad[0])}; expected integers in "
                        f"[0, {classes}) for the {classes} classes of data.files")
    return y.astype(np.int64)


def read_user_file(name: str, path: str | Path, classes: list[str],
                   sha256: str | None = None) -> Dataset:
    """The dataset ``name`` from its NPZ file, checked (module docstring)."""
    path = inside_folder(Path(path))
    if not path.is_file():
        raise DataError(f"{path}: file not found (data.files.{name}.path in params.yaml)")
    if sha256 is not None:
        found = file_sha256(path)
        if found != sha256.lower():
            raise DataError(f"{path}: SHA-256 is {found}, not the {sha256} of "
                            f"data.files.{name}.sha256; the file changed or is corrupted")
    arrays = _arrays(path)
    keys = set(arrays)
    if keys >= set(SPLIT_KEYS):
        layout = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
    elif keys >= set(WHOLE_KEYS):
        layout = {"all": ("x", "y")}
    else:
        have = ", ".join(sorted(keys)) or "no arrays"
        raise DataError(f"{path}: has {have}; expected x_train, y_train, x_test, y_test, or x "
                        "and y")
    extra = keys - {k for pair in layout.values() for k in pair}
    if extra:
        raise DataError(f"{path}: unexpected arrays {', '.join(sorted(extra))}; expected only "
                        f"{', '.join(k for pair in layout.values() for k in pair)}")
    parts: dict[str, Any] = {}
    for part, (xk, yk) in layout.items():
        x = _inputs(path, xk, arrays[xk])
        parts[part] = (x, _labels(path, yk, arrays[yk], len(classes), len(x)))
    shapes = {x.shape[1:] for x, _ in parts.values()}
    if len(shapes) > 1:
        raise DataError(f"{path}: x_train and x_test differ in sample shape ({sorted(shapes)})")
    dtypes = {x.dtype for x, _ in parts.values()}
    if len(dtypes) > 1:
        raise DataError(f"{path}: x_train and x_test differ in dtype ({sorted(map(str, dtypes))})")
    return Dataset(name, f"file {path.as_posix()} (sha256 {file_sha256(path)[:12]})", parts,
                   list(classes))


def array_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The shape of every array of an NPZ file, from the headers alone (nothing loaded): what
    the plan needs to count a dataset of your own before it is downloaded."""
    path = inside_folder(Path(path))
    try:
        with zipfile.ZipFile(path) as archive:
            shapes = {}
            for member in archive.namelist():
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, _ = read(stream)
                shapes[member.removesuffix(".npy")] = shape
            return shapes
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise DataError(f"{path}: not a readable NPZ file ({exc})") from None
