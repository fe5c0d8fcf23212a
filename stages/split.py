"""Stage split@DATASET: data/split/<dataset>/, class counts in metrics/split/<dataset>.json."""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

import argparse
from pathlib import Path

from activation_study.common.atomic import write_json
from activation_study.common.param_reader import data_params, load_params
from activation_study.common.stage_entry import run
from activation_study.data.split import save_split, split_dataset, split_summary
from activation_study.data.store import load_download


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    name = parser.parse_args().dataset
    dataset = load_download(Path("data/download") / name)
    split = split_dataset(dataset, data_params(load_params()))
    save_split(Path("data/split") / name, split, dataset.classes)
    write_json(Path("metrics/split") / f"{name}.json",
               split_summary(name, split, len(dataset.classes)))
    print(name + ": " + ", ".join(f"{part} {len(y)}" for part, (_, y) in split.items()))
    return name


if __name__ == "__main__":
    run(main, "split")
