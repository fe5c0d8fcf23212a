"""Headline metrics: the few numbers per configuration that DVC declares as metrics.

Every per-configuration stage keeps everything it measured (every seed, model state, sample
set, layer and quantity) in ``metrics/<stage>/<id>.json``: plain ``cache: false`` outputs in
git that ``summarize``, ``report``, the plot stages and ``compare`` read. The summarize stage
derives from them, here, ``metrics/summarize/headline.json``: the only file ``dvc metrics
show/diff`` and ``dvc exp show`` list, a section per configuration id.

The headline is what a researcher would quote, kept small so that ``dvc exp show`` stays
readable (docs/comparing.md, "Metrics: headline and detail"): the kept model's test accuracy
(mean and s.e. over seeds), validation accuracy, generalisation gap and best epoch; the
learning rate; each hidden layer's sparsity and the network's dead nodes (trained, training
set); and the last hidden layer's test accuracy as a continuous classifier.
:func:`quantities` gives each with its per-seed values, which is what ``compare`` tests for
seed noise. Choosing another set is an edit of this module: it reruns ``summarize`` and the
stages that read metrics through ``results.tables`` (plot, plot_classifiers, report), never
training or an analysis.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = Path("metrics")
HEADLINE = METRICS / "summarize" / "headline.json"
STAGES = ("tune", "train", "compute_metrics", "classify_layers")  # stages with a headline
TRAIN_QUANTITIES = {  # key in train's detail -> (label, whether the headline has the s.e.)
    "test_acc": ("test accuracy (%)", True),
    "validation_acc": ("validation accuracy (%)", False),
    "generalisation_gap": ("generalisation gap (pp)", False),
    "best_epoch": ("best epoch", False),
}
KEPT = "best"  # the model state of the headline: the kept (best-validation) parameters
CLASSIFIER_SYSTEM = "continuous"


def detail_path(stage: str, name: str) -> Path:
    """``metrics/<stage>/<name>.json``: everything the stage measured for ``name`` (a
    configuration id, or a dataset for split)."""
    return METRICS / stage / f"{name}.json"


@dataclass(frozen=True)
class Quantity:
    """One headline number of one configuration.

    ``key`` is its path in the headline JSON. ``per_seed`` holds the value of every seed
    (None where undefined, e.g. the sparsity of an all-dead layer); a setting such as the
    learning rate has none and is written as a bare number. ``mean`` and ``se`` are the
    detail's own, rounded as there.
    """

    stage: str
    key: tuple[str, ...]
    label: str
    mean: float | None
    se: float | None = None
    with_se: bool = False
    per_seed: tuple[float | None, ...] = ()

    @property
    def is_setting(self) -> bool:
        return not self.per_seed


def _stat(stage: str, key: tuple[str, ...], label: str, stat: dict,
          with_se: bool = False) -> Quantity:
    """A quantity from a detail entry ``{mean, se, per_seed}``."""
    return Quantity(stage, key, label, stat["mean"], stat["se"], with_se,
                    tuple(stat["per_seed"]))


def _train(detail: dict) -> Iterator[Quantity]:
    seeds = [str(seed) for seed in detail["seeds"]]
    for name, (label, with_se) in TRAIN_QUANTITIES.items():
        yield Quantity("train", (name,), label, detail[name]["mean"], detail[name]["se"],
                       with_se, tuple(detail["per_seed"][s][name] for s in seeds))


def _tune(detail: dict) -> Iterator[Quantity]:
    yield Quantity("tune", ("lr",), "learning rate", detail["lr"])


def _layers(values: dict) -> list[str]:
    return sorted((k for k in values if k.startswith("layer_")),
                  key=lambda k: int(k.removeprefix("layer_")))


def _compute_metrics(detail: dict) -> Iterator[Quantity]:
    trained = detail["states"][KEPT]["train"]
    for layer in _layers(trained):
        yield _stat("compute_metrics", ("sparsity_pct", layer),
                    f"sparsity (%), {layer.replace('_', ' ')}", trained[layer]["sparsity_pct"])
    yield _stat("compute_metrics", ("network_dead_pct",), "dead nodes (% of network)",
                trained["network"]["dead_pct"])


def _classify_layers(detail: dict) -> Iterator[Quantity]:
    test = detail["states"][KEPT].get("test")
    if test is None:  # extract.sets without the test set: no classifier headline
        return
    last = _layers(test)[-1]
    yield _stat("classify_layers", (f"{CLASSIFIER_SYSTEM}_test_acc", last),
                f"{CLASSIFIER_SYSTEM} classifier test accuracy (%), {last.replace('_', ' ')}",
                test[last][CLASSIFIER_SYSTEM])


EXTRACTORS = {"tune": _tune, "train": _train, "compute_metrics": _compute_metrics,
              "classify_layers": _classify_layers}


def quantities(stage: str, detail: dict) -> list[Quantity]:
    """Every headline quantity of one stage's detail JSON for one configuration."""
    return list(EXTRACTORS[stage](detail))


def config_headline(details: dict[str, dict]) -> dict[str, Any]:
    """One configuration's headline from its stages' details (``{stage: detail}``; a stage
    left out contributes nothing): ``{key: {mean[, se]}}``, settings bare."""
    result: dict[str, Any] = {}
    for stage, detail in details.items():
        for q in quantities(stage, detail):
            node = result
            for part in q.key[:-1]:
                node = node.setdefault(part, {})
            if q.is_setting:
                node[q.key[-1]] = q.mean
            else:
                node[q.key[-1]] = {"mean": q.mean, **({"se": q.se} if q.with_se else {})}
    return result
