"""A dry run: how many DVC stages a parameter file makes and how much compute they need.

    python -m activation_study.pipeline.plan                        # params.yaml
    python -m activation_study.pipeline.plan presets/paper.yaml     # before `make paper`

Nothing is read but the parameter file, nothing is run. Training compute is counted as
model-steps (one optimiser step of one seed's network) and as floating-point operations of
the matrix products: 2 per weight and sample forward, 4 more backward (the input gradient
of the first layer is skipped, which this count ignores), and a forward pass over the
training, validation and test sets at initialisation and after every epoch (the engine's
evaluation). Batch norm and the activation functions add a few per node and are left out.
A configuration whose learning rate is ``auto`` adds its search: every candidate rate the
rounds can try (``training.lr_search.models_trained``), each over the tune seeds for the tune
epochs.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from activation_study.common.atomic import write_json
from activation_study.common.configs import grid_configs
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import AUTO_LR
from activation_study.data.user_files import array_shapes
from activation_study.network.model import NUM_CLASSES, ModelSpec
from activation_study.params.schema import (
    OFFICIAL_TRAIN_SAMPLES,
    SHIPPED_SAMPLES,
    Params,
    training_samples,
)
from activation_study.params.validated import check, load_params
from activation_study.training.lr_search import SearchSettings, models_trained

INPUT_SIZE = {"mnist": 784, "fashion_mnist": 784, "cifar10": 3072, "mnist5k": 784, "digits": 64}
OFFICIAL_TEST_SAMPLES = 10000  # MNIST, Fashion-MNIST and CIFAR-10 alike
PER_CONFIG_STAGES = ("tune", "train", "extract_activations", "compute_metrics", "classify_layers")
PER_DATASET_STAGES = ("download", "split")
SINGLE_STAGES = ("validate", "summarize", "plot", "plot_classifiers", "report")


def typed(params: dict[str, Any] | Params) -> Params:
    """The typed, frozen parameters: a parameter file's mapping is validated once, here; the
    functions below pass the result on, so the plan checks the file once."""
    return params if isinstance(params, Params) else check(params)


def whole_set_sizes(total: int, data: Any) -> tuple[int, int, int]:
    """(train, validation, test) of a whole set split by ``data.shipped_fractions``: what
    scikit-learn's ``train_test_split`` keeps (it floors), as data/split.py cuts it."""
    fractions = data.shipped_fractions
    train = math.floor(fractions.train * total)
    share = fractions.validation / (fractions.validation + fractions.test)
    validation = math.floor((total - train) * share)
    return train, validation, total - train - validation


def file_sizes(dataset: str, params: dict[str, Any] | Params) -> tuple[int, tuple[int, int, int]]:
    """Input size and (train, validation, test) samples of a dataset of your own, from its NPZ
    file's headers (split as the split stage splits it)."""
    data = typed(params).data
    shapes = array_shapes(data.files[dataset].path)
    if "x_train" in shapes:
        n_train, n_test = shapes["x_train"][0], shapes["x_test"][0]
        return (math.prod(shapes["x_train"][1:]),
                (n_train - data.validation_size, data.validation_size, n_test))
    return math.prod(shapes["x"][1:]), whole_set_sizes(shapes["x"][0], data)


def split_sizes(dataset: str, params: dict[str, Any] | Params) -> tuple[int, int, int]:
    """Training, validation and test samples the split stage will produce."""
    p = typed(params)
    data = p.data
    if dataset in data.files:
        return file_sizes(dataset, p)[1]
    if dataset in OFFICIAL_TRAIN_SAMPLES:  # validation taken from the published training set
        return training_samples(dataset, data), data.validation_size, OFFICIAL_TEST_SAMPLES
    return whole_set_sizes(SHIPPED_SAMPLES[dataset], data)


def weights(config: dict[str, Any], params: dict[str, Any] | Params) -> int:
    dataset = config["dataset"]
    p = typed(params)
    inputs = INPUT_SIZE[dataset] if dataset in INPUT_SIZE else file_sizes(dataset, p)[0]
    classes = (len(p.data.files[dataset].classes) if dataset not in INPUT_SIZE
               else NUM_CLASSES)
    spec = ModelSpec(inputs, config["depth"], config["width"], config["batchnorm"],
                     config["activation"], num_classes=classes)
    return sum(fan_in * fan_out for fan_in, fan_out in spec.layer_dims())


def config_compute(config: dict[str, Any],
                   params: dict[str, Any] | Params) -> dict[str, float]:
    """Model-steps and FLOPs of one configuration's tune and train stages (all seeds)."""
    p = typed(params)
    train = p.train
    n_train, n_val, n_test = split_sizes(config["dataset"], p)
    w = weights(config, p)
    steps_per_epoch = math.ceil(n_train / train.batch_size)

    def cost(models: int, epochs: int) -> tuple[int, float]:
        flops = models * w * (6 * epochs * n_train
                              + 2 * (epochs + 1) * (n_train + n_val + n_test))
        return models * epochs * steps_per_epoch, float(flops)

    steps, flops = cost(len(train.seeds), train.epochs)
    tune_steps, tune_flops, tune_rounds, tune_epochs = 0, 0.0, [], 0
    if getattr(train.lr, config["activation"]) == AUTO_LR:
        search = SearchSettings(**p.tune.model_dump())
        tune_steps, tune_flops = cost(models_trained(search) * len(search.seeds), search.epochs)
        # each round trains its rates x seeds as one stack: the grid, then two rates a round
        tune_rounds = [len(set(search.grid)) * len(search.seeds)] + \
            [2 * len(search.seeds)] * (search.rounds - 1)
        tune_epochs = search.epochs
    return {"model_steps": steps + tune_steps, "flops": flops + tune_flops, "weights": w,
            "tune_model_steps": tune_steps, "tune_flops": tune_flops,
            # for projecting wall time (benchmarks/gpu_check.py): batched steps and stacks
            "models": len(train.seeds), "epochs": train.epochs,
            "steps_per_epoch": steps_per_epoch, "eval_samples": n_train + n_val + n_test,
            "tune_rounds": tune_rounds, "tune_epochs": tune_epochs}


def plan(params: dict[str, Any] | Params) -> dict[str, Any]:
    """Stage counts by kind and the training compute of every configuration."""
    p = typed(params)
    configs = grid_configs(p.grid.model_dump())
    stages = Counter({kind: len(configs) for kind in PER_CONFIG_STAGES})
    stages |= Counter({kind: len(p.grid.datasets) for kind in PER_DATASET_STAGES})
    stages |= Counter({kind: 1 for kind in SINGLE_STAGES})
    stages["plot_activations"] = len(p.plots.configs or [])
    per_config = {c["id"]: config_compute(c, p) for c in configs}
    largest = max(per_config, key=lambda cid: per_config[cid]["flops"])
    return {
        "configs": len(configs),
        "stages": dict(stages),
        "total_stages": sum(stages.values()),
        "model_steps": sum(c["model_steps"] for c in per_config.values()),
        "flops": sum(c["flops"] for c in per_config.values()),
        "tune_flops": sum(c["tune_flops"] for c in per_config.values()),
        "largest": {"config": largest, **per_config[largest]},
        "per_config": per_config,
    }


def report(result: dict[str, Any], source: str) -> str:
    lines = [f"{source}: {result['configs']} configurations, {result['total_stages']} stages"]
    lines += [f"  {count:5d}  {kind}" for kind, count in sorted(result["stages"].items())]
    largest = result["largest"]
    lines += [f"training: {result['model_steps']:.3g} model-steps, "
              f"{result['flops'] / 1e15:.3g} PFLOP (matrix products), of which the "
              f"learning-rate search {result['tune_flops'] / 1e15:.3g} PFLOP",
              f"largest: {largest['config']}, {largest['weights']:,} weights per seed, "
              f"{largest['flops'] / 1e12:.3g} TFLOP"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("params", nargs="?", default="params.yaml", help="a parameter file")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the whole plan, per configuration, to this JSON file "
                             "(benchmarks/gpu_check.py --plan reads it where pydantic is missing)")
    args = parser.parse_args(argv)
    try:
        result = plan(load_params(Path(args.params)))
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(report(result, args.params))
    if args.json is not None:
        write_json(args.json, {"source": str(args.params), **result})
    return result


if __name__ == "__main__":
    main()
