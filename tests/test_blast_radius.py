"""The blast radius: which stage kinds an edit of each module of the project makes stale.

``BLAST_RADIUS`` is written out by hand, one entry per module that holds code (every ``*.py``
under ``activation_study/`` and ``stages/`` but the package ``__init__.py`` files that are a
docstring only), each the set of dvc.yaml stage names whose ``deps`` cover the file: a dep equal
to it, a folder dep holding it, or, for an activation file, the per-configuration
``activation_study/activations/${item.activation}.py``. test_stage_deps checks that the deps are
exactly the code each stage runs; this file pins down what that adds up to, so that a layout
change widening a module's reach (a new import, a folder dep) fails here and the table is
updated on purpose, not found out from a rerun of the whole study.

* the table names every module and only existing files;
* each entry equals the stage kinds computed from dvc.yaml;
* the invariants: no module reaches every stage kind; only training code
  reaches train and tune; figures, results, pipeline, the validation side of params and the
  download side of data reach no training or analysis stage; no stage depends on pipeline/;
* one real check with DVC (e2e): an edit of three modules in a copy of the tiny study makes
  stale exactly the stage kinds the table names.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from activation_study.pipeline.dag import lockfile_stages, plain_name
from tests.test_pipeline_e2e import stale_stages
from tests.test_stage_deps import (
    OWN_ACTIVATION,
    PACKAGES,
    ROOT,
    activation_files,
    covered,
    is_code,
    project_deps,
    stages,
)


def kinds(names: str) -> frozenset[str]:
    """``kinds("plot report")`` -> frozenset({"plot", "report"}): the table's shorthand."""
    return frozenset(names.split())


EVERY_KIND = kinds("validate download split tune train extract_activations compute_metrics "
                   "classify_layers plot_activations summarize plot plot_classifiers report")
NOTHING: frozenset[str] = frozenset()

# fmt: off
BLAST_RADIUS: dict[str, frozenset[str]] = {
    # what the stages share, one module per job (issue 31; it was one file, common.py, which
    # every stage but validate listed): the stage entry needs the errors, atomic writes (its
    # timing log), the configurations and the params reader, so those five still reach every
    # stage but validate; the statistics over seeds reach only the stages that compute them
    # (the rules validate shares, imported by the schema instead of copied: configuration ids,
    # the batch-size, device and compile rules; rerunning validate stales nothing, its output
    # is a constant marker)
    "activation_study/common/errors.py": EVERY_KIND,
    "activation_study/common/atomic.py": EVERY_KIND - {"validate"},
    "activation_study/common/configs.py": EVERY_KIND,
    "activation_study/common/param_reader.py": EVERY_KIND,
    "activation_study/common/stage_entry.py": EVERY_KIND - {"validate"},
    "activation_study/common/seed_stats.py": kinds("tune train compute_metrics classify_layers"),
    # the numeric environment (train.cpu_numerics): every stage pins itself with it before
    # numpy and torch load, and validate checks that this machine can honour it. The one
    # module that reaches every stage kind, on purpose: an edit of the pins can change any
    # stage's bytes (docs/reproducibility.md)
    "activation_study/numerics.py": EVERY_KIND,
    # the stored split's reader: the data stages write it, training and extraction read it
    "activation_study/data/arrays.py": kinds(
        "download split tune train extract_activations"),
    # each stage's entry module: its own stage kind only (tune's holds the search, train's
    # its outputs)
    "stages/validate.py": kinds("validate"),
    "stages/download.py": kinds("download"),
    "stages/split.py": kinds("split"),
    "stages/tune.py": kinds("tune"),
    "stages/train.py": kinds("train"),
    "stages/extract_activations.py": kinds("extract_activations"),
    "stages/compute_metrics.py": kinds("compute_metrics"),
    "stages/classify_layers.py": kinds("classify_layers"),
    "stages/plot_activations.py": kinds("plot_activations"),
    "stages/summarize.py": kinds("summarize"),
    "stages/plot.py": kinds("plot"),
    "stages/plot_classifiers.py": kinds("plot_classifiers"),
    "stages/report.py": kinds("report"),
    # training's own code: only tune and train
    "activation_study/training/checkpoints.py": kinds("tune train"),
    "activation_study/training/engine.py": kinds("tune train"),
    # the learning-rate search, out of stages/tune.py (issue 31): tune's own code, as before
    "activation_study/training/lr_search.py": kinds("tune"),
    "activation_study/training/stacked_adam.py": kinds("tune train"),
    "activation_study/training/train_step.py": kinds("tune train"),
    # the network (its layers, its activation loaded from its file, its device): trained and
    # analysed, and drawn by plot_activations; stored models are read by the analyses only
    "activation_study/network/model.py": kinds(
        "tune train extract_activations compute_metrics classify_layers plot_activations"),
    "activation_study/network/stored.py": kinds(
        "extract_activations compute_metrics classify_layers"),
    # the activations: each file reaches the stages that run a network (its own
    # configurations' only, and plot_activations, which lists the folder) and validate, which
    # reads the folder with the catalogue
    "activation_study/activations/_catalogue.py": kinds("validate plot_activations"),
    "activation_study/activations/elu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/gelu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/leaky_relu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/leaky_tanh.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/mish.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/prelu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/relu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/rescaled_sigmoid.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/sigmoid.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/silu.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    "activation_study/activations/tanh.py": kinds(
        "validate tune train extract_activations compute_metrics classify_layers "
        "plot_activations"),
    # the analyses: extraction is shared by the three, each other module is one stage's
    "activation_study/analysis/extraction.py": kinds(
        "extract_activations compute_metrics classify_layers"),
    "activation_study/analysis/node_metrics.py": kinds("compute_metrics"),
    "activation_study/analysis/layer_classifiers.py": kinds("classify_layers"),
    # the classifier options params.yaml chooses: the schema reads them too
    "activation_study/analysis/classifier_choices.py": kinds("validate classify_layers"),
    # the parameters' validation side: validate only; the whole file validated, for the
    # plan and the runner, is no stage's
    "activation_study/params/schema.py": kinds("validate"),
    "activation_study/params/validated.py": NOTHING,
    # getting and splitting the data sets: download and split only
    "activation_study/data/readers.py": kinds("download"),
    "activation_study/data/sources.py": kinds("download"),
    "activation_study/data/user_files.py": kinds("download"),
    "activation_study/data/store.py": kinds("download split"),
    "activation_study/data/split.py": kinds("split"),
    # the figures: the plot stages, each its own figures and the shared style
    "activation_study/figures/style.py": kinds("plot_activations plot plot_classifiers"),
    "activation_study/figures/network.py": kinds("plot_activations"),
    "activation_study/figures/config_figures.py": kinds("plot_activations"),
    "activation_study/figures/curves.py": kinds("plot"),
    "activation_study/figures/sparsity.py": kinds("plot"),
    "activation_study/figures/classifiers.py": kinds("plot_classifiers"),
    # the results: the summary stages only; compare is a command of its own, no stage's
    "activation_study/results/headline.py": kinds("summarize plot plot_classifiers report"),
    "activation_study/results/tables.py": kinds("summarize plot plot_classifiers report"),
    "activation_study/results/study_tables.py": kinds("summarize"),
    "activation_study/results/compare.py": NOTHING,
    "activation_study/results/numerics.py": kinds("report"),  # compare's too, a command
    "activation_study/results/report/common.py": kinds("report"),
    "activation_study/results/report/findings.py": kinds("report"),
    "activation_study/results/report/references.py": kinds("report"),
    "activation_study/results/report/render.py": kinds("report"),
    # running the pipeline, never a stage's code: nothing; nor the lock's checker
    "activation_study/environment_lock.py": NOTHING,
    "activation_study/pipeline/clusters.py": NOTHING,
    "activation_study/pipeline/dag.py": NOTHING,
    "activation_study/pipeline/dvc_internals.py": NOTHING,
    "activation_study/pipeline/parallel.py": NOTHING,
    "activation_study/pipeline/plan.py": NOTHING,
    "activation_study/pipeline/recover.py": NOTHING,
    "activation_study/pipeline/reproduce_check.py": NOTHING,
    "activation_study/pipeline/stage_guard.py": NOTHING,
}
# fmt: on

TRAINING_KINDS = kinds("tune train")
ANALYSIS_KINDS = kinds("extract_activations compute_metrics classify_layers")
# The modules an edit of which may retrain (the list): training's own code, the
# network it builds, the stored split, the two entry modules, and the shared stage code.
# Beside them only a configuration's own activation file retrains it.
NUMERICS = "activation_study/numerics.py"
COMMON = {f"activation_study/common/{name}.py" for name in (
    "errors", "atomic", "configs", "param_reader", "seed_stats", "stage_entry")}
TRAINING_CODE = COMMON | {"activation_study/data/arrays.py", NUMERICS,
                 "activation_study/network/model.py", "stages/train.py", "stages/tune.py",
                 "activation_study/training/checkpoints.py",
                 "activation_study/training/engine.py",
                 "activation_study/training/lr_search.py",
                 "activation_study/training/stacked_adam.py",
                 "activation_study/training/train_step.py"}
# Folders (and the one module of each allowed more) that reach no training or analysis stage.
NO_COMPUTING = {"activation_study/figures/": (), "activation_study/results/": (),
                "activation_study/pipeline/": (), "activation_study/params/": (),
                "activation_study/data/": ("activation_study/data/arrays.py",)}


@cache
def code_modules() -> frozenset[str]:
    return frozenset(p.relative_to(ROOT).as_posix() for package in PACKAGES
                     for p in (ROOT / package).rglob("*.py") if is_code(p))


@cache
def code_deps() -> dict[str, list[str]]:
    """Each stage's deps that are project code (dvc.yaml read once)."""
    return {name: project_deps(stage) for name, stage in stages().items()}


def is_training_code(path: str) -> bool:
    return path in TRAINING_CODE or path in activation_files()


@cache
def reach(path: str) -> frozenset[str]:
    """The stage kinds whose dvc.yaml deps cover ``path``: what an edit of it makes stale."""
    own = path in activation_files()
    return frozenset(name for name, deps in code_deps().items()
                     if covered(path, deps) or (own and OWN_ACTIVATION in deps))


def test_stage_kinds_are_dvc_yaml_stages():
    assert set(stages()) == EVERY_KIND


def test_templated_deps_are_understood():
    """``reach`` knows one templated code dep, a stage's own activation file; another kind
    (``${...}`` in a project code dep) needs teaching it."""
    templated = {dep for stage in stages().values() for dep in project_deps(stage)
                 if "${" in dep}
    assert templated <= {OWN_ACTIVATION}, f"reach() does not resolve {templated - {OWN_ACTIVATION}}"


def test_table_names_every_module_and_only_existing_files():
    modules = code_modules()
    missing = sorted(modules - set(BLAST_RADIUS))
    assert not missing, (
        "modules missing from BLAST_RADIUS in tests/test_blast_radius.py; add each with the stage "
        "kinds its edit makes stale (test_every_module_reaches_what_the_table_says prints "
        "them):\n" + "\n".join(f"    {path!r}: {sorted(reach(path))}" for path in missing))
    gone = sorted(set(BLAST_RADIUS) - modules)
    assert not gone, ("BLAST_RADIUS names files that are not modules of the project (moved or "
                      "deleted?); remove them:\n" + "\n".join(f"    {path}" for path in gone))


@pytest.mark.parametrize("path", sorted(BLAST_RADIUS))
def test_every_module_reaches_what_the_table_says(path):
    assert (ROOT / path).is_file(), f"BLAST_RADIUS names {path}, which is not a file"
    expected, actual = BLAST_RADIUS[path], reach(path)
    assert actual == expected, (
        f"an edit of {path} makes stale the stage kinds {sorted(actual)}, not the "
        f"{sorted(expected)} of BLAST_RADIUS: wider by {sorted(actual - expected)}, narrower "
        f"by {sorted(expected - actual)}. If the change of dvc.yaml or of the imports is "
        f"meant, update the table.")


# What an edit of which reruns every stage but validate (validate may rerun too: it stales
# nothing). The numeric pins, on purpose: every stage's bytes depend on them. The shared stage
# code of common/: the stage entry every stage runs and what it needs; typed settings handed
# to the stages (issue 31, open) are to take the params reader and the configurations out.
EVERYWHERE = {NUMERICS, *(f"activation_study/common/{name}.py" for name in (
    "errors", "atomic", "configs", "param_reader", "stage_entry"))}


def test_only_the_listed_modules_reach_every_stage_kind():
    """No other edit of a single module reruns the whole study."""
    beyond_validate = EVERY_KIND - {"validate"}
    everywhere = sorted(path for path in code_modules() if reach(path) >= beyond_validate)
    assert everywhere == sorted(EVERYWHERE), (
        f"an edit of these modules makes every stage kind stale: {everywhere}")


def test_at_most_seventeen_files_retrain_a_configuration():
    """Issue 20's bound of ten files whose edits stale a configuration's tune or train stage
    (its own activation file among them), plus the CPU numerics' pins (issue 29): the numeric
    environment is an input of every trained network. Issue 31 split two of those files
    without adding code: the learning-rate search moved out of stages/tune.py into
    training/lr_search.py (+1), and common.py became six modules, one per job (+5), each of
    which training uses."""
    for activation in sorted(activation_files()):
        retraining = {path for path in code_modules() if reach(path) & TRAINING_KINDS
                      and (path not in activation_files() or path == activation)}
        assert len(retraining) <= 17, (activation, sorted(retraining))
        assert retraining == TRAINING_CODE | {activation}


def test_only_training_code_retrains():
    wide = {path: sorted(reach(path) & TRAINING_KINDS) for path in sorted(code_modules())
            if not is_training_code(path) and reach(path) & TRAINING_KINDS}
    assert not wide, f"modules outside the training code that make tune/train stale: {wide}"


@pytest.mark.parametrize("folder", sorted(NO_COMPUTING))
def test_figures_results_pipeline_params_and_data_reach_no_computing_stage(folder):
    computing = TRAINING_KINDS | ANALYSIS_KINDS
    wide = {path: sorted(reach(path) & computing) for path in sorted(code_modules())
            if path.startswith(folder) and path not in NO_COMPUTING[folder]
            and reach(path) & computing}
    assert not wide, (f"modules under {folder} that make training or analysis stages stale "
                      f"(an edit of them would retrain or reanalyse): {wide}")


def test_no_stage_depends_on_the_pipeline_folder():
    pipeline = "activation_study/pipeline"
    users = {name: dep for name, stage in stages().items() for dep in project_deps(stage)
             if covered(dep, [pipeline]) or covered(pipeline, [dep])}
    assert not users, f"stages listing the pipeline folder (or a folder above it): {users}"
    assert all(not reach(path) for path in code_modules() if path.startswith(pipeline + "/"))


# The modules edited in the real check: one figure, one validation-only, one activation file.
PROBES = ("activation_study/figures/curves.py", "activation_study/params/schema.py",
          "activation_study/activations/sigmoid.py")


@pytest.mark.e2e
def test_dvc_sees_the_blast_radius_of_an_edit(project: Path):
    """In a copy of the tiny study: append a comment to a module, and `dvc status` lists
    stale exactly the stage kinds of its table entry; for an activation file, of the
    per-configuration stages only those of its own activation."""
    locked = [plain_name(address) for address in lockfile_stages(project)]
    present = {name.split("@")[0] for name in locked}
    assert present == EVERY_KIND  # the tiny study runs every stage kind
    per_configuration = {name for name, stage in stages().items()
                         if OWN_ACTIVATION in project_deps(stage)}
    for path in PROBES:
        file = project / path
        original = file.read_bytes()
        try:
            file.write_bytes(original + b"\n# an edit: the blast radius test\n")
            stale = stale_stages(project)
        finally:
            file.write_bytes(original)
        assert {name.split("@")[0] for name in stale} == BLAST_RADIUS[path] & present, path
        if path in activation_files():
            own = {name for name in locked
                   if name.split("@")[0] in per_configuration
                   and name.split("@")[1].split("-")[1] == file.stem}
            assert {name for name in stale if name.split("@")[0] in per_configuration} == own
            assert len(own) == 4 * len(per_configuration)  # 2 depths x 2 batch norms, each
    assert stale_stages(project) == set()  # every probe undone
