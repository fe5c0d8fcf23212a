"""Stage download@DATASET: fetch one dataset into the common format, data/download/<dataset>/.

A built-in dataset comes from its source (``activation_study.data.sources``); a dataset of your
own (a key of ``data.files``) from its NPZ file under ``datasets/``, checked
(``activation_study.data.user_files``).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

import argparse
from pathlib import Path

from activation_study.common.param_reader import data_params, load_params, require, user_files
from activation_study.common.stage_entry import run
from activation_study.data.sources import CLASSES, fetch
from activation_study.data.store import save_download
from activation_study.data.user_files import read_user_file


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    name = parser.parse_args().dataset
    params = load_params()
    files = user_files(params)
    require(name in CLASSES or name in files, "grid.datasets", name,
            f"one of {', '.join(CLASSES)} or a key of data.files")
    if name in files:
        entry = files[name]
        dataset = read_user_file(name, entry["path"], entry["classes"], entry.get("sha256"))
    else:
        dataset = fetch(name, data_params(params).local_dir)
    save_download(Path("data/download") / name, dataset)
    counts = ", ".join(f"{part} {len(y)}" for part, (_, y) in dataset.parts.items())
    print(f"{name} from {dataset.source}: {counts}")
    return name


if __name__ == "__main__":
    run(main, "download")
