"""Library code stays library code: no module of ``activation_study`` imports a stage entry
(``stages`` is not part of the installed package: the plan and the runner must work outside
the repository's root), and none takes command-line arguments (an ``argparse.Namespace``
parameter) instead of values. Command-line modules parse their own arguments and pass values on.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "activation_study").rglob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_library_module_imports_a_stage():
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in LIBRARY
                 for name in imported(ast.parse(path.read_text()))
                 if name == "stages" or name.startswith("stages.")]
    assert not offenders


def test_no_library_function_takes_command_line_arguments():
    offenders = []
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({a.arg})"
                              for a in arguments if a.annotation is not None
                              and "Namespace" in ast.unparse(a.annotation)]
    assert not offenders


def test_the_checks_see_what_they_look_for():
    """The walk itself, on a module that breaks both rules."""
    tree = ast.parse("import argparse\nfrom stages.tune import x\n"
                     "def f(args: argparse.Namespace): pass\n")
    assert "stages.tune" in imported(tree)
    [function] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert "Namespace" in ast.unparse(function.args.args[0].annotation)
