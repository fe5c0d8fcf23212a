"""Readers for the published file formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 batches.

Both refuse a truncated or corrupted file with a ``DataError`` naming it.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np

from activation_study.data import DataError

IDX_UINT8 = 0x08
CIFAR_SHAPE = (3, 32, 32)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes: header, big-endian dims, payload."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); the file is truncated or corrupted") \
            from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UINT8:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    found = len(raw) - header
    if found != expected:
        raise DataError(f"{path}: expected {expected} bytes of data for shape {dims}, "
                        f"found {found}; the file is truncated or corrupted")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) and labels (N,) from two IDX files, checked against each other."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{images_path}, {labels_path}: expected 3-d images and 1-d labels, "
                        f"got shapes {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path}: "
                        f"{len(labels)} labels")
    return images, labels.astype(np.int64)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,)."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: a CIFAR-10 batch needs the keys b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(CIFAR_SHAPE)):
        raise DataError(f"{path}: expected uint8 data of shape (N, 3072), got {data.dtype} "
                        f"{data.shape}")
    if len(data) != len(labels):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, *CIFAR_SHAPE), labels
