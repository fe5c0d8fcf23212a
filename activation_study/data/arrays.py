"""The array files of the data stages (``.npy``, no pickles) and the stored split's reader.

A downloaded dataset and a split are folders of ``.npy`` files, one per array: a ``.npy``'s
bytes depend only on the array (a zip archive stamps the time), so DVC hashes are
reproducible. Training and extraction read ``data/split/<dataset>/`` here, and nothing else
of the data code: editing a source or a reader reruns the data stages only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from activation_study.common.errors import DataError

PARTS = ("train", "validation", "test")
CLASSES_FILE = "classes.json"
Split = dict[str, tuple[np.ndarray, np.ndarray]]


def save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def load_array(folder: Path, name: str) -> np.ndarray:
    path = folder / f"{name}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run `dvc repro` to rebuild it)") from None
    except ValueError as exc:
        raise DataError(f"{path}: unreadable ({exc}); rebuild it with `dvc repro -f`") from None


def load_split(folder: str | Path) -> Split:
    """``{"train" | "validation" | "test": (x (N, D), y int64 (N,))}`` of a split folder
    (``x_<part>.npy``, ``y_<part>.npy``); x is uint8, or float32 for a dataset of your own."""
    folder = Path(folder)
    return {part: (load_array(folder, f"x_{part}"), load_array(folder, f"y_{part}"))
            for part in PARTS}


def load_classes(folder: str | Path) -> list[str]:
    """The class names of a split folder (``classes.json``): the network has one output each."""
    path = Path(folder) / CLASSES_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run `dvc repro` to rebuild it)") from None
