"""The network of a train or tune stage: its command line, model spec and data split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from activation_study.configuration import config_id
from activation_study.data.arrays import load_classes, load_split
from activation_study.params.reader import activation_shape, get, require
from stages._cli import require_grid_config

if TYPE_CHECKING:
    from activation_study.data.arrays import Split
    from activation_study.network.model import ModelSpec


def network_arguments(description: str | None) -> argparse.Namespace:
    """The network of a train or tune stage: ``--dataset --activation --depth --width
    --batchnorm``, a configuration of params.yaml's grid; adds ``id``, the configuration id,
    and makes ``batchnorm`` a bool."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batchnorm", choices=("true", "false"), required=True)
    args = parser.parse_args()
    args.batchnorm = args.batchnorm == "true"
    args.id = require_grid_config(
        config_id(args.dataset, args.activation, args.depth, args.width, args.batchnorm),
        "--dataset/--activation/--depth/--width/--batchnorm")
    return args


def network_and_split(args: argparse.Namespace, params: dict) -> tuple[ModelSpec, Split]:
    """The model spec of ``network_arguments`` and its dataset's split, after checking the
    batch size against the split's training samples."""
    from activation_study.network.model import ModelSpec  # torch: not on tune's fixed-rate path

    folder = Path("data/split") / args.dataset
    split = load_split(folder)
    n, batch = len(split["train"][1]), get(params, "train.batch_size")
    # validate checks these up front for the built-in sets; a file of your own is counted here
    require(batch <= n, "train.batch_size", batch,
            f"at most the {n} training samples of {args.dataset}")
    require(not (args.batchnorm and n % batch == 1), "train.batch_size", batch,
            f"a size that does not leave a last mini-batch of 1 sample: {args.dataset} has {n} "
            "training samples (batch norm cannot train on 1 sample)")
    spec = ModelSpec(input_dim=split["train"][0].shape[1], depth=args.depth, width=args.width,
                     batchnorm=args.batchnorm, activation=args.activation,
                     num_classes=len(load_classes(folder)),
                     shape=activation_shape(params, args.activation))
    return spec, split
