"""Stage train@CONFIG: all seeds of one configuration, trained as one batched model.

Reads: data/split/<dataset>/split.npz and the train.* keys of params.yaml that dvc.yaml lists.
Writes: data/train/<config>/ (models.pt, history.csv, dvclive/seed_<k>/),
metrics/train/<config>.json, plots/train/<config>.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dvclive import Live

from activation_study.data.split import load_split
from activation_study.engine import TrainSettings, train_batched
from activation_study.io import atomic_path, write_csv, write_json
from activation_study.model import ModelSpec
from activation_study.params import (
    activation_shape,
    config_id,
    dataset_name,
    load_params,
    require,
    validate_train,
)
from activation_study.train_outputs import config_metrics, learning_curves, write_run_folder
from stages._cli import run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batchnorm", choices=("true", "false"), required=True)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    params = load_params()
    dataset_name(args.dataset)
    require(args.depth >= 1, "grid.depths", args.depth, "integers >= 1")
    require(args.width >= 1, "grid.widths", args.width, "integers >= 1")
    settings = TrainSettings(**validate_train(params, args.activation))
    shape = activation_shape(params, args.activation)
    batchnorm = args.batchnorm == "true"
    name = config_id(args.dataset, args.activation, args.depth, args.width, batchnorm)

    split = load_split(Path("data/split") / args.dataset)
    n_train = len(split["train"][1])
    require(settings.batch_size <= n_train, "train.batch_size", settings.batch_size,
            f"at most the {n_train} training samples of {args.dataset}")
    spec = ModelSpec(input_dim=split["train"][0].shape[1], depth=args.depth, width=args.width,
                     batchnorm=batchnorm, activation=args.activation, shape=shape)

    with atomic_path(Path("data/train") / name) as folder:
        folder.mkdir()
        lives = [Live(str(folder / "dvclive" / f"seed_{seed}"), dvcyaml=False,
                      save_dvc_exp=False, report=None) for seed in settings.seeds]

        def log_epoch(epoch: int, epoch_metrics: dict) -> None:
            for k, live in enumerate(lives):  # DVCLive step == epoch (0 = initialisation)
                for key, values in epoch_metrics.items():
                    part, metric = key.rsplit("_", 1)
                    live.log_metric(f"{part}/{metric}", float(values[k]))
                live.next_step()

        result = train_batched(spec, split, settings, on_epoch=log_epoch)
        for live in lives:
            live.end()
        write_run_folder(folder, result)

    config = {"id": name, **spec.to_dict(), "dataset": args.dataset, "lr": settings.lr,
              "device": result.device}
    metrics = config_metrics(result, config)
    write_json(Path("metrics/train") / f"{name}.json", metrics)
    curves = learning_curves(result.history)
    write_csv(Path("plots/train") / f"{name}.csv", curves)
    test = metrics["test_acc"]
    print(f"{name}: test accuracy {test['mean']:.2f} +- {test['se']} % "
          f"({result.seconds:.1f} s on {result.device})")


if __name__ == "__main__":
    run(main)
