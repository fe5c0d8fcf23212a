"""Stage extract_activations@CONFIG: pre-activations of every hidden node, every model state.

Reads data/train/<config>/models.pt and data/split/<dataset>/; writes
data/extract_activations/<config>/ (format: activation_study.analysis.extraction and
docs/analyses.md).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from pathlib import Path

from activation_study.analysis.extraction import extract_config
from activation_study.common.param_reader import get, group, load_params
from activation_study.common.stage_entry import config_argument, run
from activation_study.data.arrays import load_split
from activation_study.network.model import resolve_device, use_cpu_threads
from activation_study.network.stored import read_models
from activation_study.numerics import stage_fingerprint


def main() -> str:
    config = config_argument(__doc__)
    params = load_params()
    settings = group(params, "extract")
    use_cpu_threads(get(params, "train.cpu_threads"))
    checkpoint = read_models(Path("data/train") / config / "models.pt")
    split = load_split(Path("data/split") / config.split("-")[0])
    extract_config(checkpoint, split, Path("data/extract_activations") / config,
                   samples_per_class=settings["samples_per_class"],
                   seed=get(params, "data.split_seed"), dtype=settings["dtype"],
                   device=get(params, "train.device"), sets=tuple(settings["sets"]),
                   initial_batchnorm=settings["initial_batchnorm"],
                   numerics=stage_fingerprint(params, resolve_device(get(params, "train.device"))))
    return config


if __name__ == "__main__":
    run(main, "extract_activations")
