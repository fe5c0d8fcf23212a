"""Stage download@DATASET: fetch one dataset into the common format, data/download/<dataset>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from activation_study.data.sources import CLASSES, fetch
from activation_study.data.store import save_download
from activation_study.params.reader import data_params, load_params, require
from stages._cli import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    name = parser.parse_args().dataset
    require(name in CLASSES, "grid.datasets", name, f"one of {', '.join(CLASSES)}")
    dataset = fetch(name, data_params(load_params()).local_dir)
    save_download(Path("data/download") / name, dataset)
    counts = ", ".join(f"{part} {len(y)}" for part, (_, y) in dataset.parts.items())
    print(f"{name} from {dataset.source}: {counts}")


if __name__ == "__main__":
    run(main)
