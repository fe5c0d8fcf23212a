"""The common on-disk format of a downloaded dataset: ``data/download/<dataset>/``.

One ``.npy`` file per array (``<part>_images`` uint8, ``<part>_labels`` int64; parts ``train``
and ``test`` for official sets, ``all`` for shipped ones) and ``meta.json`` with the source,
shapes, class names, counts and SHA-256 checksums (``arrays``: why ``.npy``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activation_study.common.atomic import atomic_path, read_json, write_json
from activation_study.common.errors import DataError
from activation_study.data.arrays import load_array, save_arrays

META = "meta.json"


@dataclass
class Dataset:
    """A dataset as fetched: its parts (``train`` and ``test``, or ``all``) as (images: uint8,
    or float32 for a dataset of your own; int64 labels), and its class names."""

    name: str
    source: str
    parts: dict[str, tuple[np.ndarray, np.ndarray]]  # part -> (images, int64 labels)
    classes: list[str]


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def as_stored(images: np.ndarray) -> np.ndarray:
    """Images as stored: float32 where they are floats (a dataset of your own), else uint8."""
    return images.astype(np.float32 if np.issubdtype(images.dtype, np.floating) else np.uint8)


def save_download(folder: Path, dataset: Dataset) -> None:
    """Write ``dataset`` to ``folder`` atomically (all files or none)."""
    meta = {
        "dataset": dataset.name,
        "source": dataset.source,
        "image_shape": list(next(iter(dataset.parts.values()))[0].shape[1:]),
        "num_classes": len(dataset.classes),
        "classes": dataset.classes,
        "parts": {
            part: {"count": len(labels), "sha256_images": sha256(images),
                   "sha256_labels": sha256(labels)}
            for part, (images, labels) in dataset.parts.items()
        },
    }
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for part, (images, labels) in dataset.parts.items():
            save_arrays(tmp, {f"{part}_images": as_stored(images),
                              f"{part}_labels": labels.astype(np.int64)})
        write_json(tmp / META, meta)


def load_download(folder: Path) -> Dataset:
    """Read a downloaded dataset, verifying counts and checksums against ``meta.json``."""
    meta_path = folder / META
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: not found (run `dvc repro download@{folder.name}`)")
    meta = read_json(meta_path)
    parts = {}
    for part, info in meta["parts"].items():
        images, labels = load_array(folder, f"{part}_images"), load_array(folder, f"{part}_labels")
        for array, kind in ((images, "images"), (labels, "labels")):
            if len(array) != info["count"] or sha256(array) != info[f"sha256_{kind}"]:
                raise DataError(f"{folder / f'{part}_{kind}.npy'}: does not match the count or "
                                f"checksum in {meta_path}; the file is corrupted")
        parts[part] = (images, labels)
    return Dataset(meta["dataset"], meta["source"], parts, meta["classes"])
