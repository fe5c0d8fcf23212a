"""The study report, ``reports/study.md``: what was run, what it measured, how that compares
with the seeds' reference values, and which of their qualitative findings the run reproduces.

Every function of this package is pure: it takes the stages' metrics already loaded (dicts of
their JSON) and returns markdown lines or values, so each rule can be tested on small
hand-made dicts. ``common`` holds the inputs and markdown helpers, ``references`` the seeds'
values, ``findings`` their qualitative claims; this module assembles the sections.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import PurePosixPath

from activation_study.results import numerics
from activation_study.results.report.common import (
    BN_LABEL,
    STAGE_ORDER,
    Figure,
    StudyInputs,
    config_key,
    count,
    describe,
    figure_lines,
    number,
    scaled,
    table,
)
from activation_study.results.report.findings import (
    FINDINGS,
    VERDICT_PLURAL,
    Finding,
    findings_section,
)
from activation_study.results.report.references import reference_rows, reference_section
from activation_study.results.tables import (
    STATES,
    classifier_markdown,
    classifier_rows,
    layer_rows,
    pm,
)


def run_section(inputs: StudyInputs) -> list[str]:
    grid, configs = inputs.grid, inputs.ordered
    seeds = sorted({tuple(inputs.train[c["id"]]["seeds"]) for c in configs})
    lines = ["## What was run", ""]
    for dataset in sorted(grid["datasets"]):
        split = inputs.splits.get(dataset)
        sizes = "" if split is None else ": " + ", ".join(
            f"{count(p['count'])} {part}" for part, p in split["parts"].items()) + (
            f" images ({split['input_dim']} inputs, {split['num_classes']} classes)")
        lines.append(f"- dataset `{dataset}`{sizes}")
    lines += [f"- activations: {', '.join(sorted(grid['activations']))}",
              f"- hidden layers: {', '.join(map(str, sorted(grid['depths'])))}, of width "
              f"{', '.join(map(str, sorted(grid['widths'])))}",
              "- batch norm: " + ", ".join(BN_LABEL[b] for b in sorted(grid["batchnorm"])),
              f"- {len(configs)} configurations (every combination), each trained with seeds "
              + "; ".join(", ".join(map(str, s)) for s in seeds)
              + " (mean ± s.e. over seeds everywhere below: std with ddof=1 over √n)"]
    recipe = inputs.recipe
    if recipe:
        lines.append(f"- training: Adam, {recipe['epochs']} epochs, mini-batch "
                     f"{recipe['batch_size']}, learning rate × {recipe['lr_decay']:g} after "
                     "every epoch; the parameters of the epoch of best validation accuracy are "
                     "kept and tested")
    lines.append("- initial learning rate: " + learning_rates(inputs))
    devices: dict[str, int] = defaultdict(int)
    for c in configs:
        devices[str(inputs.train[c["id"]]["config"]["device"])] += 1
    lines.append("- device: " + ", ".join(f"{d} ({n} configurations)"
                                          for d, n in sorted(devices.items())))
    lines += numerics_lines(inputs)
    return lines if inputs.timings is None else lines + ["", *timing_section(inputs.timings)]


MEANING = "what decides the bits of the numbers: docs/reproducibility.md"


def numerics_lines(inputs: StudyInputs) -> list[str]:
    """The numeric environment training ran in (the ``numerics`` block of metrics/train), or,
    where configurations differ in it, the most common one and the fields the others differ
    in: a difference between those configurations may come from the machine."""
    groups = numerics.environments({c["id"]: inputs.train[c["id"]].get(numerics.KEY)
                                    for c in inputs.configs})
    common, ids = groups[0]
    described = numerics.describe(common)
    if len(groups) == 1 and common is None:
        return [f"- numeric environment: not recorded (metrics written before the stages "
                f"recorded it; {MEANING})"]
    if len(groups) == 1:
        return [f"- numeric environment: {described}, the same for every configuration "
                f"({MEANING})"]
    state = ("differs between configurations" if all(b is not None for b, _ in groups) else
             "not the same for every configuration (not recorded for some)")
    lines = [f"- numeric environment: {state}, so a difference between them may come from the "
             f"machine, not the configuration ({MEANING}); {len(ids)} of {len(inputs.configs)} "
             f"configurations: {described}; the others differ in:"]
    for block, others in groups[1:]:
        lines.append(f"  - {fields_differing(common, block)} ({which(others)})")
    return lines


def fields_differing(common: dict | None, block: dict | None) -> str:
    """The fields in which ``block`` differs from ``common``; with either unrecorded, no
    field to name: ``block`` described."""
    if common is None or block is None:
        return numerics.describe(block)
    return ", ".join(f"`{path}` {a} → {b}" for path, a, b in numerics.differences(common, block))


def which(ids: list[str], shown: int = 6) -> str:
    """The configurations by id, or their count where many."""
    if len(ids) > shown:
        return f"{len(ids)} configurations"
    return ", ".join(f"`{i}`" for i in ids)


def learning_rates(inputs: StudyInputs) -> str:
    """Per activation, the rate every configuration trained with, or their range."""
    rates: dict[str, set[float]] = defaultdict(set)
    for c in inputs.configs:
        rates[c["activation"]].add(inputs.train[c["id"]]["config"]["lr"])
    parts = [f"{a} {min(r):g}" if len(r) == 1 else f"{a} {min(r):g} to {max(r):g}"
             for a, r in sorted(rates.items())]
    tuned = any(record["mode"] == "auto" for record in inputs.tune.values())
    return "; ".join(parts) + (" (searched per configuration, see [Learning rates]"
                               "(#learning-rates))" if tuned else "")


def timing_section(records: list[dict]) -> list[str]:
    lines = ["### Wall time per stage", ""]
    records = [r for r in records if r["kind"] != "report"]  # this stage's is of an older run
    if not records:
        return lines + ["No run logs under `logs/timing/` (a fresh clone, or no stage has run "
                        "in this workspace): wall times are not reported."]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by_kind[r["kind"]].append(float(r["seconds"]))
    order = {kind: i for i, kind in enumerate(STAGE_ORDER)}
    kinds = sorted(by_kind, key=lambda k: (order.get(k, len(order)), k))
    rows = [[k, str(len(by_kind[k])), f"{sum(by_kind[k]):.1f}",
             f"{sum(by_kind[k]) / len(by_kind[k]):.1f}", f"{max(by_kind[k]):.1f}"] for k in kinds]
    every = [s for k in kinds for s in by_kind[k]]
    rows.append(["**all**", str(len(every)), f"{sum(every):.1f}",
                 f"{sum(every) / len(every):.1f}", f"{max(every):.1f}"])
    last = max(str(r["finished"]) for r in records)
    return lines + [
        "From the run logs `logs/timing/<stage>/<name>.json`: the last run of each stage in "
        "this workspace (not versioned with the results; a stage DVC skipped keeps the log of "
        "its earlier run), from the stage's entry point to its outputs written; Python "
        "start-up, imports and DVC's bookkeeping add a few seconds per stage. "
        f"Latest finish: {last}.", "",
        *table(["stage", "stages logged", "total, s", "mean, s", "max, s"], rows)]


def tune_section(inputs: StudyInputs) -> list[str]:
    if not inputs.tune:
        return []
    rows = []
    for c in inputs.ordered:
        used = inputs.train[c["id"]]["config"]["lr"]
        record = inputs.tune.get(c["id"])
        if record is None:
            rows.append([c["id"], "no record", f"{used:g}", "", ""])
            continue
        stale = "" if math.isclose(record["lr"], used) else f" ⚠ trained with {used:g}"
        validation = record["validation_acc"]
        rows.append([c["id"], record["mode"], f"{record['lr']:g}{stale}",
                     "" if validation is None else pm(validation), searched(record["search"])])
    return ["## Learning rates", "",
            "Chosen per configuration by the tune stage: `auto` searches rates by validation "
            "accuracy over the seeds (short runs), `fixed` takes the rate of params.yaml.", "",
            *table(["configuration", "mode", "learning rate", "validation accuracy, %",
                    "searched: rate (validation %) by round"], rows)]


def searched(search: list[dict]) -> str:
    rounds: dict[int, list[str]] = defaultdict(list)
    for s in sorted(search, key=lambda s: (s["round"], -s["lr"])):
        rounds[s["round"]].append(f"{s['lr']:g} ({number(s['validation_acc']['mean'])})")
    return "; ".join(f"round {r}: {', '.join(v)}" for r, v in sorted(rounds.items()))


def accuracy_section(inputs: StudyInputs) -> list[str]:
    lines = ["## Test accuracy", "",
             "Accuracy (%) of the kept parameters (the epoch of best validation accuracy), mean "
             "± s.e. over seeds; the generalisation gap is training minus test accuracy."]
    bns = sorted(inputs.grid["batchnorm"])
    for dataset in sorted(inputs.grid["datasets"]):
        configs = {config_key(c): c for c in inputs.ordered if c["dataset"] == dataset}
        shapes = sorted({k[1:4] for k in configs})
        lines += ["", f"### {dataset}", "", *table(
            ["activation", "depth", "width", *(f"test, {BN_LABEL[b]}" for b in bns)],
            ([a, str(d), str(w), *(pm(inputs.train[configs[(dataset, a, d, w, b)]["id"]]
                                      ["test_acc"]) for b in bns)] for a, d, w in shapes))]
        lines += ["", *table(
            ["configuration", "test", "validation", "train", "gap (train − test)", "best epoch"],
            ([c["id"], *(pm(inputs.train[c["id"]][k]) for k in
                         ("test_acc", "validation_acc", "train_acc", "generalisation_gap",
                          "best_epoch"))] for c in configs.values()))]
    return lines + figure_lines(inputs, "accuracy")


def layer_table(inputs: StudyInputs, key: str, factor: float = 1.0,
                network: bool = False) -> list[str]:
    """Rows configuration x state (untrained, trained), a column per hidden layer (training
    set), and with ``network`` the value over the whole network first."""
    depth = max(inputs.grid["depths"])
    rows = []
    for c in inputs.ordered:
        nodes = inputs.nodes[c["id"]]
        for state, per_layer in layer_rows(nodes, key).items():
            cells = [pm(scaled(s, factor)) for s in per_layer] + [""] * (depth - len(per_layer))
            total = [pm(nodes["states"][state]["train"]["network"][key])] if network else []
            rows.append([c["id"], STATES[state], *total, *cells])
    return table(["configuration", "state", *(["network"] if network else []),
                  *(f"layer {i}" for i in range(1, depth + 1))], rows)


def has_layer_key(inputs: StudyInputs, key: str) -> bool:
    return all(key in inputs.nodes[c["id"]]["states"]["best"]["train"]["layer_1"]
               for c in inputs.configs)


def nodes_section(inputs: StudyInputs) -> list[str]:
    lines = ["## Sparsity and dead nodes", "",
             "### Layer sparsity, % (Table 1 of 000, Table 5.2 of 001)", "",
             "Per live node the percentage of training samples for which it is off, averaged "
             "over the layer's live nodes (dead nodes excluded).", "",
             *layer_table(inputs, "sparsity_pct"), "",
             "### Dead nodes, % (Table 5.1 of 001)", "",
             "Nodes off for every training sample, as % of the layer's nodes and of the "
             "network's hidden nodes.", "", *layer_table(inputs, "dead_pct", network=True)]
    lines += figure_lines(inputs, "sparsity")
    lines += ["", "## Activation probability (seed 004)", "",
              "Activation probability of a unit: % of training samples for which it is not "
              "saturated (ReLU family: output > 0; sigmoid: output in (0.025, 0.975); tanh: "
              "|output| < 0.95). Lifetime sparsity of a layer is the mean of its units' "
              "activation probabilities, dispersion their standard deviation (both in % here; "
              "seed 004 writes fractions).", "", "### Lifetime sparsity, %", "",
              *layer_table(inputs, "lifetime_sparsity", 100.0), "", "### Dispersion, %", "",
              *layer_table(inputs, "dispersion", 100.0)]
    if has_layer_key(inputs, "saturation"):
        lines += ["", "### Saturation, % (seeds 002, 003)", "",
                  "Sample-node pairs outside the band above, %.",
                  "", *layer_table(inputs, "saturation", 100.0)]
    return lines + epochs_section(inputs)


def epochs_section(inputs: StudyInputs) -> list[str]:
    rows = []
    for c in inputs.ordered:
        e = inputs.nodes[c["id"]]["epochs_to_target"]
        rows.append([c["id"], f"{e['target_train_acc']:g}", pm(e),
                     f"{e['reached']} of {len(e['per_seed'])}"])
    return ["", "## Epochs to reach the training-accuracy target (seed 002)", "",
            "First epoch whose training accuracy reaches the target, mean ± s.e. over the seeds "
            "that reach it.", "",
            *table(["configuration", "target, %", "epochs", "seeds that reached it"], rows)]


def classifier_section(inputs: StudyInputs) -> list[str]:
    study = {"classifier_tolerance": inputs.classifier_tolerance,
             "layer_classifiers": {c["id"]: classifier_rows(inputs.classify[c["id"]])
                                   for c in inputs.ordered}}
    lines = classifier_markdown(inputs.ordered, study, max(inputs.grid["depths"]))
    return lines[1:] + figure_lines(inputs, "classifiers")  # summarize's opens with a blank


def network_figures_section(inputs: StudyInputs) -> list[str]:
    figures = [f for f in inputs.figures if f.section == "network"]
    if not figures:
        return []
    by_config: dict[str, list[Figure]] = defaultdict(list)
    for f in figures:
        by_config[PurePosixPath(f.path).parent.name].append(f)
    return ["## Figures of single networks (001 ch. 4-5, seed 004)", "",
            "One seed's network per configuration in `plots.configs`.", "",
            *table(["configuration", "figures"],
                   ([cid, ", ".join(f"[{f.caption}](../{f.path})" for f in fs)]
                    for cid, fs in sorted(by_config.items())))]


def summary_lines(inputs: StudyInputs, findings: list[Finding],
                  covered: list[list[str]]) -> list[str]:
    """The opening paragraph: best accuracy per activation, findings and references tallied."""
    best = {}
    for c in inputs.ordered:
        stat = inputs.train[c["id"]]["test_acc"]
        if c["activation"] not in best or stat["mean"] > best[c["activation"]][1]["mean"]:
            best[c["activation"]] = (c, stat)
    tally: dict[str, int] = defaultdict(int)
    for f in findings:
        tally[f.verdict.split(" (")[0]] += 1
    flagged = sum(row[-1].startswith("⚠") for row in covered)
    references = (f"{flagged} of the {len(covered)} reference values of the seeds that this run "
                  "covers differ from it by more than allowed" if covered else
                  "this run trains none of the configurations the seeds report values for "
                  "(they are set beside the closest analogue instead)")
    return ["Best test accuracy: " + "; ".join(
                f"{a} {pm(stat)} % ({describe(c, 'activation')})" for a, (c, stat) in
                sorted(best.items())) + ". "
            + "Of the seeds' qualitative findings, " + ", ".join(
                f"{n} of {len(findings)} {VERDICT_PLURAL[v]}" for v, n in sorted(tally.items()))
            + f"; {references}."]


def render_report(inputs: StudyInputs) -> str:
    """The markdown of reports/study.md."""
    findings = [check(inputs) for check in FINDINGS]
    covered, other = reference_rows(inputs)
    lines = ["# Activation functions in MLPs: study report", "",
             "Written by `python -m stages.report` from the metrics of this workspace "
             "(`metrics/`) and the figures under `plots/`; every number is read from them. "
             "The method is that of the seeds (STUDY.md; docs/analyses.md).", "",
             *summary_lines(inputs, findings, covered), "",
             *run_section(inputs), "", *findings_section(findings)]
    sections = [tune_section(inputs), accuracy_section(inputs), nodes_section(inputs),
                classifier_section(inputs), reference_section(inputs, covered, other),
                network_figures_section(inputs)]
    for part in sections:
        lines += ["", *part] if part else []
    return "\n".join(lines) + "\n"
