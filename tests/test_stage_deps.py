"""The plot stages' dvc.yaml deps are exactly the activation_study modules they import, so
editing a figure reruns only the stages that draw it (a histogram change leaves plot and
plot_classifiers alone)."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLOT_STAGES = ("plot", "plot_classifiers", "plot_activations")


def module_path(name: str) -> Path | None:
    """The file of an activation_study module (a package's __init__.py), None for others."""
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if name.startswith("activation_study.") and path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """The activation_study modules imported by ``path``, and by them in turn."""
    found: set[str] = set()
    todo = [path]
    while todo:
        for node in ast.walk(ast.parse(todo.pop().read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if module_path(name) and name not in found:
                    found.add(name)
                    todo.append(module_path(name))
    return found


@pytest.mark.parametrize("stage", PLOT_STAGES)
def test_plot_stage_deps_are_the_modules_it_imports(stage):
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    listed = {dep for dep in deps if dep.startswith("activation_study/")}
    imported = {str(module_path(name).relative_to(ROOT))
                for name in imported_modules(ROOT / "stages" / f"{stage}.py")}
    assert listed == imported


def test_only_plot_activations_depends_on_the_network_figures():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    users = {name for name, stage in stages.items()
             if "activation_study/network_figures.py" in stage.get("deps", [])}
    assert users == {"plot_activations"}
