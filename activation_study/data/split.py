"""Train / validation / test split, written to ``data/split/<dataset>/``.

Official sets: the official test set; ``data.validation_size`` samples of the official
training set, stratified by class, for validation; the rest for training. Shipped sets: one
stratified split by ``data.shipped_fractions``. Seeded by ``data.split_seed``; images
flattened to (N, D) uint8. Files: ``x_<part>.npy`` and ``y_<part>.npy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from activation_study.common.atomic import atomic_path, write_json
from activation_study.common.param_reader import DataParams, require
from activation_study.data.arrays import CLASSES_FILE, Split, save_arrays
from activation_study.data.store import Dataset, as_stored


def _stratified(indices: np.ndarray, labels: np.ndarray, size: float | int, seed: int):
    """Two sorted index sets: ``size`` of ``indices`` (stratified by label) and the rest."""
    chosen, rest = train_test_split(indices, train_size=size, stratify=labels[indices],
                                    random_state=seed)
    return np.sort(chosen), np.sort(rest)


def split_dataset(dataset: Dataset, params: DataParams) -> Split:
    if "all" in dataset.parts:
        images, labels = dataset.parts["all"]
        fractions = params.shipped_fractions
        train, rest = _stratified(np.arange(len(labels)), labels, fractions["train"],
                                  params.split_seed)
        share = fractions["validation"] / (fractions["validation"] + fractions["test"])
        validation, test = _stratified(rest, labels, share, params.split_seed)
        chosen = {"train": train, "validation": validation, "test": test}
        parts = {part: (images[idx], labels[idx]) for part, idx in chosen.items()}
    else:
        images, labels = dataset.parts["train"]
        n = len(labels)
        require(params.validation_size < n, "data.validation_size", params.validation_size,
                f"fewer than the {n} official training samples of {dataset.name}")
        validation, train = _stratified(np.arange(n), labels, params.validation_size,
                                        params.split_seed)
        parts = {"train": (images[train], labels[train]),
                 "validation": (images[validation], labels[validation]),
                 "test": dataset.parts["test"]}
    return {part: (as_stored(x.reshape(len(x), -1)), y.astype(np.int64))
            for part, (x, y) in parts.items()}


def save_split(folder: Path, split: Split, classes: list[str]) -> None:
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        write_json(tmp / CLASSES_FILE, classes)
        for part, (x, y) in split.items():
            save_arrays(tmp, {f"x_{part}": x, f"y_{part}": y})


def split_summary(name: str, split: Split, num_classes: int) -> dict:
    return {
        "dataset": name,
        "input_dim": int(split["train"][0].shape[1]),
        "num_classes": num_classes,
        "parts": {part: {"count": len(y),
                         "class_counts": np.bincount(y, minlength=num_classes).tolist()}
                  for part, (_, y) in split.items()},
    }
