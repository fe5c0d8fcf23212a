"""Readers for the published file formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 batches.

Both refuse a truncated or corrupted file with a ``DataError`` naming it. CIFAR-10 batches are
pickles, and a pickle can name any importable callable (``os.system``...) to run while it
loads: ``read_cifar_batch`` unpickles with ``CifarUnpickler``, which resolves only the few
globals a published batch needs (``CIFAR_GLOBALS``) and refuses any other with a
``DataError`` naming the file and the global, before anything is called.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from activation_study.common.errors import DataError

IDX_UINT8 = 0x08
CIFAR_SHAPE = (3, 32, 32)

try:  # numpy >= 2 (numpy.core is a deprecated alias of numpy._core there)
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as pickle uses it for ``bytes`` at protocol <= 2 (Python 3 writes
    ``bytes`` as ``_codecs.encode(text, "latin1")``); any other codec is refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}) "
                                     f"is not a latin-1 bytes literal")
    return text.encode("latin-1")


def _empty_bytes() -> bytes:
    """``bytes()``, as pickle writes ``b""`` at protocol <= 2; ``bytes(n)`` and the rest are
    refused."""
    return b""


# Everything a CIFAR-10 python batch may name: the published files (Python 2, protocol 2)
# hold a dict of str / bytes, a list of ints and a numpy array rebuilt by
# numpy.core.multiarray._reconstruct(numpy.ndarray, ...) with a numpy.dtype. Copies written
# by Python 3 with numpy 2 spell it numpy._core, may hold numpy integer scalars
# (multiarray.scalar) in the labels, write bytes as _codecs.encode(..., "latin1") (b"" as
# bytes()) at protocol 2 and arrays as numeric._frombuffer at protocol 5. Dicts, lists, str,
# bytes and ints need no global at all.
CIFAR_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    **{(f"{package}.multiarray", "_reconstruct"): _multiarray._reconstruct
       for package in ("numpy.core", "numpy._core")},
    **{(f"{package}.multiarray", "scalar"): _multiarray.scalar
       for package in ("numpy.core", "numpy._core")},
    **{(f"{package}.numeric", "_frombuffer"): _numeric._frombuffer
       for package in ("numpy.core", "numpy._core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    **{(builtins, "bytes"): _empty_bytes for builtins in ("builtins", "__builtin__")},
}


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``CIFAR_GLOBALS``; any other global (a function, a
    class, a module attribute) raises ``DataError`` naming ``path`` and the global. Every way
    a pickle reaches a callable (GLOBAL, STACK_GLOBAL, INST, OBJ, the copyreg extension codes)
    goes through ``find_class``."""

    def __init__(self, file, path: Path, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module: str, name: str):
        try:
            return CIFAR_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"{self.path}: refused to unpickle the global {module}.{name}: a "
                            f"CIFAR-10 batch holds only dicts, lists, bytes, str, int and numpy "
                            f"arrays; this file is not one (it may be crafted to run code)") \
                from None


def read_idx(path: Path, sha256: str | None = None) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes: header, big-endian dims, payload.

    ``sha256``: the known SHA-256 of the (decompressed) file; the content is checked against it,
    so a file recompressed by a packager (Debian's gzip bytes differ from the publisher's)
    passes, and a different file does not."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); the file is truncated or corrupted") \
            from None
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(f"{path}: its content has SHA-256 {hashlib.sha256(raw).hexdigest()}, "
                        f"expected {sha256}, the published file's; it is not the published "
                        "file (damaged, or another dataset)")
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


def read_idx_pair(images_path: Path, labels_path: Path,
                  sha256: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) and labels (N,) from two IDX files, checked against each other (and
    against ``sha256``, known checksums by file name, where it names them)."""
    known = sha256 or {}
    images = read_idx(images_path, known.get(images_path.name))
    labels = read_idx(labels_path, known.get(labels_path.name))
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{images_path}, {labels_path}: expected 3-d images and 1-d labels, "
                        f"got shapes {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path}: "
                        f"{len(labels)} labels")
    return images, labels.astype(np.int64)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,).

    Unpickled with ``CifarUnpickler``: a file naming any global outside ``CIFAR_GLOBALS`` is
    refused (``DataError``) before anything in it runs."""
    try:
        with open(path, "rb") as f:
            batch = CifarUnpickler(f, path, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:
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
