"""Stage train@CONFIG: all seeds of one configuration, trained as one batched model.

Reads: data/split/<dataset>/split.npz, the learning rate from data/tune/<config>/lr.json
(the tune stage: the fixed rate of params.yaml or the searched one), and the train.* keys of
params.yaml that dvc.yaml lists.
Writes: data/train/<config>/ (models.pt, history.csv, dvclive/seed_<k>/),
metrics/train/<config>.json, plots/train/<config>.csv.
Resumes from checkpoints/train/<config>/ (train.checkpoint_every; removed when done).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dvclive import Live

from activation_study.device import resolve_device, use_cpu_threads
from activation_study.errors import ParamError
from activation_study.io import atomic_path, read_json, write_csv, write_json
from activation_study.params.reader import load_params, train_settings
from activation_study.training.checkpoints import stage_checkpoints
from activation_study.training.engine import TrainSettings, train_batched
from activation_study.training.outputs import config_metrics, learning_curves, write_run_folder
from stages._cli import run
from stages._network import network_and_split, network_arguments

TUNE_DIR = Path("data/tune")


def read_chosen_rate(config: str) -> float:
    """The learning rate tune@CONFIG chose (data/tune/<config>/lr.json): what train trains with."""
    path = TUNE_DIR / config / "lr.json"
    if not path.is_file():
        raise ParamError(f"{path} is missing: run `dvc repro` (stage tune for {config})")
    return float(read_json(path)["lr"])


def main() -> None:
    args = network_arguments(__doc__)
    params = load_params()
    lr = read_chosen_rate(args.id)
    train = train_settings(params)
    every, threads = train.pop("checkpoint_every"), train.pop("cpu_threads")
    use_cpu_threads(threads)
    settings = TrainSettings(**train, lr=lr)
    spec, split = network_and_split(args, params)
    checkpoints = stage_checkpoints(
        "train", args.id, {"spec": spec.to_dict(), "settings": asdict(settings),
                           "device": str(resolve_device(settings.device)),
                           "cpu_threads": threads}, split, every)

    with atomic_path(Path("data/train") / args.id) as folder:
        folder.mkdir()
        lives = [Live(str(folder / "dvclive" / f"seed_{seed}"), dvcyaml=False,
                      save_dvc_exp=False, report=None) for seed in settings.seeds]

        def log_epoch(epoch: int, epoch_metrics: dict) -> None:
            for k, live in enumerate(lives):  # DVCLive step == epoch (0 = initialisation)
                for key, values in epoch_metrics.items():
                    part, metric = key.rsplit("_", 1)
                    live.log_metric(f"{part}/{metric}", float(values[k]))
                live.next_step()

        result = train_batched(spec, split, settings, on_epoch=log_epoch,
                               checkpoint=checkpoints.checkpoint("train"))
        for live in lives:
            live.end()
        write_run_folder(folder, result)

    config = {"id": args.id, **spec.to_dict(), "dataset": args.dataset, "lr": settings.lr,
              **result.training()}
    metrics = config_metrics(result, config)
    write_json(Path("metrics/train") / f"{args.id}.json", metrics)
    write_csv(Path("plots/train") / f"{args.id}.csv", learning_curves(result.history))
    checkpoints.clear()
    test = metrics["test_acc"]
    print(f"{args.id}: test accuracy {test['mean']:.2f} +- {test['se']} % "
          f"({result.seconds:.1f} s on {result.device})")


if __name__ == "__main__":
    run(main)
