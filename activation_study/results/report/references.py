"""The seeds' reference values (STUDY.md, with the exact tables of 000 and 001) and their
comparison with the measured ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from activation_study.results.report.common import BN_LABEL, StudyInputs, table
from activation_study.results.tables import layer_rows, pm

ANALOGUES = {"mnist": ("mnist5k", "digits")}  # measured datasets shown beside a reference

QUANTITIES = {
    "test_acc": "test accuracy, %",
    "train_acc": "training accuracy, %",
    "sparsity_untrained": "layer sparsity, untrained, %",
    "sparsity_trained": "layer sparsity, trained, %",
    "dead_pct": "dead nodes, trained, % of hidden nodes",
}


@dataclass(frozen=True)
class Reference:
    """A value a seed reports (one, or one per hidden layer), with its s.e. where it gives one."""

    source: str
    dataset: str
    activation: str
    depth: int
    width: int
    batchnorm: bool
    quantity: str
    values: tuple[float, ...]
    se: tuple[float, ...] | None = None

    @property
    def key(self) -> tuple:
        return self.dataset, self.activation, self.depth, self.width, self.batchnorm


def _refs(source: str, dataset: str, quantity: str, depth: int,
          rows: dict[tuple[str, bool], tuple], width: int = 200) -> list[Reference]:
    """References of one table: ``rows[(activation, batchnorm)]`` = values, or (values, se)."""
    out = []
    for (activation, batchnorm), row in rows.items():
        values, se = row if isinstance(row[0], tuple) else (row, None)
        out.append(Reference(source, dataset, activation, depth, width, batchnorm, quantity,
                             values, se))
    return out


REFERENCES: tuple[Reference, ...] = tuple(
    _refs("001 §4.1 (Fig. 3.4)", "mnist", "test_acc", 4,
          {("relu", False): (98.6,), ("sigmoid", False): (98.18,),
           ("relu", True): (98.71,), ("sigmoid", True): (98.36,)})
    + _refs("001 §5.3", "mnist", "test_acc", 4, {("relu", False): (98.55,)})
    + _refs("001 §4.1 (Fig. 3.10)", "cifar10", "test_acc", 4,
            {("relu", False): (51.04,), ("sigmoid", False): (52.5,),
             ("relu", True): (54.03,), ("sigmoid", True): (53.03,)})
    # one network each (001 3.2: trends are shown on individual networks), no s.e.
    + _refs("001 §6.3.2", "fashion_mnist", "test_acc", 6,
            {("relu", False): (89.24,), ("sigmoid", False): (89.6,)}, width=100)
    + _refs("001 §6.3.2", "fashion_mnist", "train_acc", 6,
            {("relu", False): (95.56,), ("sigmoid", False): (96.0,)}, width=100)
    + _refs("000 Table 1", "mnist", "sparsity_untrained", 4,
            {("relu", False): (49.22, 48.85, 48.45, 48.74),
             ("relu", True): (49.08, 49.70, 49.81, 49.15)})
    + _refs("000 Table 1", "mnist", "sparsity_trained", 4,
            {("relu", False): (80.40, 79.33, 81.93, 81.90),
             ("relu", True): (65.76, 56.67, 68.77, 69.12)})
    + _refs("000 Table 1", "cifar10", "sparsity_untrained", 4,
            {("relu", False): (51.07, 50.96, 50.73, 50.85),
             ("relu", True): (51.06, 50.75, 50.95, 50.81)})
    + _refs("000 Table 1", "cifar10", "sparsity_trained", 4,
            {("relu", False): (77.56, 76.55, 77.54, 77.14),
             ("relu", True): (58.53, 59.41, 57.43, 57.37)})
    + _refs("001 Table 5.1", "mnist", "dead_pct", 4,
            {("relu", False): (1.38,), ("relu", True): (2.38,),
             ("sigmoid", False): (1.5,), ("sigmoid", True): (2.87,)})
    + _refs("001 Table 5.1", "mnist", "dead_pct", 8,
            {("relu", False): (20.12,), ("relu", True): (3.93,),
             ("sigmoid", False): (10.5,), ("sigmoid", True): (8.81,)})
    + _refs("001 Table 5.2", "mnist", "sparsity_trained", 4, {
        ("relu", False): ((75.65, 75.52, 77.11, 78.91), (0.88, 0.65, 0.67, 0.66)),
        ("relu", True): ((62.86, 53.38, 65.71, 65.80), (0.53, 0.18, 0.44, 0.18)),
        ("sigmoid", False): ((55.41, 60.70, 56.41, 52.17), (0.78, 0.52, 1.22, 0.45)),
        ("sigmoid", True): ((33.25, 33.23, 34.39, 33.69), (0.94, 0.71, 1.14, 1.18))})
    + _refs("001 Table 5.2", "mnist", "sparsity_trained", 8, {
        ("relu", False): ((61.40, 61.89, 67.98, 61.73, 65.69, 68.79, 63.30, 67.72),
                          (4.51, 0.78, 3.26, 1.63, 5.42, 2.60, 7.08, 3.55)),
        ("relu", True): ((61.40, 61.89, 67.98, 61.73, 56.23, 55.23, 55.17, 53.35),
                         (0.82, 1.10, 0.26, 0.21, 0.61, 0.08, 0.83, 1.25)),
        ("sigmoid", False): ((36.10, 49.57, 46.59, 54.16, 56.19, 52.14, 41.82, 53.63),
                             (2.94, 1.88, 5.15, 6.38, 3.63, 4.11, 3.35, 1.82)),
        ("sigmoid", True): ((40.34, 40.96, 40.82, 40.04, 41.48, 40.46, 40.97, 41.98),
                            (0.34, 0.64, 0.61, 0.15, 0.49, 0.79, 0.31, 0.29))})
)

MEASURES: dict[str, Callable[[dict, dict], list[dict]]] = {
    "test_acc": lambda train, nodes: [train["test_acc"]],
    "train_acc": lambda train, nodes: [train["train_acc"]],
    "sparsity_untrained": lambda train, nodes: layer_rows(nodes, "sparsity_pct")["initial"],
    "sparsity_trained": lambda train, nodes: layer_rows(nodes, "sparsity_pct")["best"],
    "dead_pct": lambda train, nodes: [nodes["states"]["best"]["train"]["network"]["dead_pct"]],
}


def allowed(seed_se: float | None, tolerance: float) -> float:
    """How far a measured mean may lie from a seed's value: the larger of the seed's own s.e.
    and the tolerance."""
    return max(seed_se or 0.0, tolerance)


def differs(reference: float, seed_se: float | None, measured: float, tolerance: float) -> bool:
    return abs(measured - reference) > allowed(seed_se, tolerance)


def reference_rows(inputs: StudyInputs) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the references whose configuration the run covers (one per value, marked where
    it differs) and of the others (one per reference, beside an analogue, never marked)."""
    id_of = inputs.id_of
    covered, other = [], []
    for ref in REFERENCES:
        quantity = QUANTITIES[ref.quantity]
        label = (f"{ref.dataset} {ref.activation} {ref.depth}x{ref.width} "
                 f"{BN_LABEL[ref.batchnorm]}")
        cid = id_of.get(ref.key)
        if cid is None:
            other.append([ref.source, label, quantity, seed_values(ref),
                          *analogue(inputs, id_of, ref)])
            continue
        measured = MEASURES[ref.quantity](inputs.train[cid], inputs.nodes[cid])
        for index, (value, stat) in enumerate(zip(ref.values, measured, strict=True)):
            seed_se = None if ref.se is None else ref.se[index]
            mean = stat["mean"]
            mark = "" if mean is None else (
                "⚠ differs" if differs(value, seed_se, mean, inputs.tolerance) else "within")
            covered.append([ref.source, f"`{cid}`", quantity,
                            str(index + 1) if len(ref.values) > 1 else "",
                            pm({"mean": value, "se": seed_se}), pm(stat),
                            "n/a" if mean is None else f"{mean - value:+.2f}",
                            f"{allowed(seed_se, inputs.tolerance):.2f}", mark])
    return covered, other


def seed_values(ref: Reference) -> str:
    se = ref.se or (None,) * len(ref.values)
    return ", ".join(pm({"mean": v, "se": s}) for v, s in zip(ref.values, se, strict=True))


def analogue(inputs: StudyInputs, id_of: dict[tuple, str], ref: Reference) -> list[str]:
    """The same network on the first analogue dataset the run has: its id and values."""
    for dataset in ANALOGUES.get(ref.dataset, ()):
        cid = id_of.get((dataset, *ref.key[1:]))
        if cid is not None:
            stats = MEASURES[ref.quantity](inputs.train[cid], inputs.nodes[cid])
            return [f"`{cid}`", ", ".join(pm(s) for s in stats)]
    return ["none in this run", ""]


def reference_section(inputs: StudyInputs, covered: list[list[str]],
                      other: list[list[str]]) -> list[str]:
    """The references section from ``reference_rows``."""
    epochs = inputs.recipe.get("epochs")
    lines = ["## Reference values of the seeds", "",
             "The values the seeds report (STUDY.md; exact tables of 000 and 001) set beside "
             "this run's where it trains the same configuration: same dataset, activation, "
             "depth, width and batch norm. The seeds trained 300 epochs on the full datasets"
             + ("" if epochs is None else f"; this run trains {epochs}") + ". A value is marked "
             "⚠ where the measured mean differs from the seed's by more than the larger of the "
             f"seed's own s.e. and the tolerance `report.tolerance` = {inputs.tolerance:g} pp "
             "(column *allowed*).", ""]
    if covered:
        lines += table(["source", "configuration", "quantity", "layer", "seed", "measured",
                        "difference", "allowed", ""], covered)
        flagged = sum(row[-1].startswith("⚠") for row in covered)
        lines += ["", f"{flagged} of {len(covered)} values differ by more than allowed."]
    else:
        lines.append("This run covers none of the seeds' configurations.")
    if other:
        lines += ["", "### Not covered by this run", "",
                  "References whose configuration this run does not train, beside the same "
                  "network trained here on a different dataset where there is one (`mnist5k`: "
                  "5 000 MNIST digits; `digits`: scikit-learn's 8x8 digits). These are **not "
                  "like-for-like**: other data, other amounts of it, another number of epochs; "
                  "they are shown for orientation and never marked.", "",
                  *table(["source", "seed's configuration", "quantity", "seed", "analogue here",
                          "measured on the analogue"], other)]
    return lines + ["", "Not compared: Fashion-MNIST validation ~90 % (001; no configuration "
                        "given), 004 Table 2 (a CNN) and 003 Table 1 (an Inception network on "
                        "CIFAR-100): no network of this pipeline matches them."]
