"""Every stage of dvc.yaml depends on the code it runs, and on nothing else of the project's code.

For each stage, the entry module its command names (``python -m stages.X``, matrix stages
too) is walked with ``ast``: every project module (``activation_study.*``, ``stages.*``) it
imports, at module level or inside a function, and those modules' imports in turn. Importing
``a.b.c`` runs the package ``__init__.py`` files of ``a`` and ``a.b`` as well; such a file
counts as code only if it holds more than a docstring (every package ``__init__.py`` of the
project is a docstring only). Imports under
``if TYPE_CHECKING:`` never run and are skipped. A folder in ``deps`` (e.g.
``activation_study/results/report``) covers every module under it. Only ``import`` statements
are seen: a project module loaded by ``importlib.import_module("...")`` would need listing
by hand (none is today; ``data/sources.py`` loads only torchvision that way).

Activation files are loaded by name (``network/model.py`` imports ``activations/<name>.py``
for the configuration's activation; ``activations/_catalogue.py`` reads every file with
``ast``), so a stage that runs ``network/model.py`` must list its own activation's file,
``activation_study/activations/${item.activation}.py``, when its matrix has an activation axis,
and the whole folder otherwise (plot_activations: its matrix item is a configuration id); a
stage that runs ``_catalogue`` lists the folder.

Two checks, both on every stage:

* complete: every module the stage runs is in its ``deps``, else editing it would leave the
  stage's outputs stale (DVC would not rerun it). The failure names the stage and the exact
  lines to add.
* exact: every project module (or folder) in its ``deps`` is one it runs, so editing a module
  reruns only the stages that use it (a histogram change leaves plot and plot_classifiers
  alone). This used to be checked for the three plot stages only; it holds for all of them,
  so it is checked everywhere. A listed folder must hold only modules the stage runs.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from activation_study.pipeline.dag import stage_definitions

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("activation_study", "stages")
ACTIVATIONS = "activation_study/activations"
LOADER = "activation_study/network/model.py"
CATALOGUE = f"{ACTIVATIONS}/_catalogue.py"
OWN_ACTIVATION = f"{ACTIVATIONS}/${{item.activation}}.py"
ENTRY = re.compile(r"\bpython\s+-m\s+(stages\.\w+)")


def stages() -> dict[str, dict]:
    """The stages of dvc.yaml and pipelines/*/dvc.yaml; a ``foreach`` stage as its ``do`` body
    (``matrix`` ones are flat)."""
    return {name: stage.get("do", stage) for name, stage in stage_definitions(ROOT).items()}


def module_file(name: str) -> Path | None:
    """The file of a project module (a package's ``__init__.py``); None for anything else
    (the standard library, third-party packages, a name that is a function or class)."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def is_code(path: Path) -> bool:
    """False for a package ``__init__.py`` holding only a docstring (and __future__ imports)."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str))
               and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
               for node in body)


def is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree: ast.AST):
    """Every Import / ImportFrom, anywhere (functions included), but not under TYPE_CHECKING."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if is_type_checking(child):
                todo.extend(child.orelse)  # the else branch does run
            else:
                todo.append(child)


def imported_names(path: Path, module: str) -> set[str]:
    """The dotted names ``path`` (the module ``module``) imports, relative imports resolved:
    for ``from a.b import c`` both ``a.b`` and ``a.b.c`` (c may be a module or not)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in import_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            parent = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join(parent + ([base] if base else []))
        names.add(base)
        names |= {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
    return names


def with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def modules_run_by(entry: str) -> frozenset[str]:
    """The project files (relative to the repository) that ``python -m entry`` runs."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        for name in with_parents(todo.pop()):
            path = module_file(name)
            if path is None or name in seen:
                continue
            seen.add(name)
            todo.extend(imported_names(path, name))
    return frozenset(module_file(name).relative_to(ROOT).as_posix() for name in seen
                     if is_code(module_file(name)))


def entry_module(stage: dict) -> str:
    match = ENTRY.search(" ".join(stage["cmd"]) if isinstance(stage["cmd"], list)
                         else stage["cmd"])
    assert match, f"no `python -m stages.X` in the command {stage['cmd']!r}"
    return match.group(1)


def project_deps(stage: dict) -> list[str]:
    """The deps that are project code: modules and folders under activation_study/, stages/."""
    return [dep.rstrip("/") for dep in stage.get("deps", [])
            if dep.split("/")[0] in PACKAGES]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep + "/") for dep in deps)


def python_files_under(folder: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py") if is_code(p)}


STAGES = sorted(stages())


def test_every_stage_is_checked():
    """Every stage runs a ``stages.X`` entry module (a new kind of command needs a look here)."""
    for name in STAGES:
        assert module_file(entry_module(stages()[name])), name


def activation_deps(stage: dict) -> set[str]:
    """The activation files a stage loads by name: its own (matrix stages with an activation
    axis) or the folder."""
    run = modules_run_by(entry_module(stage))
    if LOADER in run and "activation" in stage.get("matrix", {}):
        return {OWN_ACTIVATION}
    return {ACTIVATIONS} if LOADER in run or CATALOGUE in run else set()


def activation_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / ACTIVATIONS).glob("[!_]*.py")}


@pytest.mark.parametrize("name", STAGES)
def test_stage_depends_on_every_module_it_runs(name):
    stage = stages()[name]
    deps = project_deps(stage)
    missing = sorted(path for path in modules_run_by(entry_module(stage)) | activation_deps(stage)
                     if not covered(path, deps))
    assert not missing, (
        f"stage {name!r} runs modules its dvc.yaml deps do not list; editing them would not "
        f"rerun it. Add to stages.{name}.deps in its dvc.yaml (pipelines/{name}/ or the root):\n"
        + "\n".join(f"      - {path}" for path in missing))


@pytest.mark.parametrize("name", STAGES)
def test_stage_depends_on_no_module_it_does_not_run(name):
    stage = stages()[name]
    run = modules_run_by(entry_module(stage))
    loaded = activation_deps(stage)
    if ACTIVATIONS in loaded:
        run = run | activation_files() | {LOADER, CATALOGUE} & set(run)
    extra = []
    for dep in project_deps(stage):
        if dep in loaded:
            continue
        if (ROOT / dep).is_dir():
            extra += sorted(python_files_under(dep) - run)
        elif dep not in run:
            extra.append(dep)
    assert not extra, (
        f"stage {name!r} lists project code in its dvc.yaml deps that it never imports, so "
        f"editing it reruns the stage for nothing. Remove from stages.{name}.deps (or, for a "
        f"module under a listed folder, list the folder's modules one by one):\n"
        + "\n".join(f"      - {path}" for path in extra))


def test_imports_are_followed(tmp_path):
    """The walk itself: parent packages with code, relative imports, imports in functions."""
    assert is_code(ROOT / "activation_study/common/atomic.py")
    assert not is_code(ROOT / "activation_study/data/__init__.py")  # a docstring only
    assert "activation_study/data/__init__.py" not in modules_run_by("stages.split")
    assert "activation_study/__init__.py" not in modules_run_by("stages.split")
    assert "activation_study/common/atomic.py" in modules_run_by("stages.split")
    assert "stages/split.py" in modules_run_by("stages.split")
    tree = ast.parse("def f():\n    from . import x\n    from .y import z\n"
                     "if TYPE_CHECKING:\n    import hidden\nelse:\n    import shown\n")
    path = tmp_path / "m.py"
    path.write_text(ast.unparse(tree))
    assert imported_names(path, "activation_study.data.m") == {
        "activation_study.data", "activation_study.data.x", "activation_study.data.y",
        "activation_study.data.y.z", "shown"}


def test_only_plot_activations_depends_on_the_network_figures():
    users = {name for name, stage in stages().items()
             if "activation_study/figures/network.py" in stage.get("deps", [])}
    assert users == {"plot_activations"}
