"""The manual (docs/, mkdocs.yml) and the README: the strict build passes, the generated pages
are up to date, the parameter reference covers every key, and every `make` target and
`python -m` module they name exists."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference" / "parameters.md"


def load_generate():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_keys() -> list[str]:
    """The keys of the parameter reference: its groups' headings and its tables' first column."""
    return re.findall(r"^(?:\| |## )`([^`]+)`", REFERENCE.read_text(), flags=re.MULTILINE)


def undocumented(keys, documented) -> list[str]:
    """The keys that no documented key (``<name>`` standing for any one name) matches."""
    patterns = [re.compile(re.sub(r"<[^>]+>", "[^.]+", re.escape(k)) + "$") for k in documented]
    return [k for k in keys if not any(p.match(k) for p in patterns)]


def yaml_keys(node, prefix: str = "") -> list[str]:
    """Every dotted key of a parameter file: each mapping and each leaf."""
    keys = []
    for name, value in node.items():
        key = f"{prefix}{name}"
        keys.append(key)
        if isinstance(value, dict):
            keys += yaml_keys(value, key + ".")
    return keys


def schema_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key the schema allows; a mapping of names (data.files) as ``<name>``."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys += schema_keys(inner, key + ".")
        elif getattr(inner, "__origin__", None) is dict:
            value = inner.__args__[1]
            keys.append(f"{key}.some_name")
            if isinstance(value, type) and issubclass(value, BaseModel):
                keys += schema_keys(value, f"{key}.some_name.")
    return keys


PARAMETER_FILES = [ROOT / "params.yaml", *sorted((ROOT / "presets").glob("*.yaml"))]


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: p.name)
def test_reference_lists_every_key_of_the_parameter_files(path):
    keys = yaml_keys(yaml.safe_load(path.read_text()))
    assert not undocumented(keys, documented_keys()), (
        f"{path.name}: keys missing from docs/reference/parameters.md "
        "(run `python docs/generate.py`)")


def test_reference_lists_every_key_of_the_schema():
    from activation_study.params.schema import Params

    keys = schema_keys(Params)
    assert len(keys) > 40
    assert not undocumented(keys, documented_keys())


def test_a_key_the_page_lacks_is_found():
    documented = documented_keys()
    assert undocumented(["train.lr.relu", "train.new_key"], documented) == ["train.new_key"]
    assert undocumented(["data.files.blobs.path", "data.files.blobs.colour"], documented) == [
        "data.files.blobs.colour"]


def test_generated_pages_are_up_to_date():
    generate = load_generate()
    stale = [path for path, text in generate.pages().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"out of date: {stale} (run `python docs/generate.py`)"


def test_generate_check_exits_1_on_a_stale_page(tmp_path, monkeypatch):
    generate = load_generate()
    page = tmp_path / "stages.md"
    page.write_text("stale\n")
    monkeypatch.setattr(generate, "pages", lambda: {page: "fresh\n"})
    assert generate.main(["--check"]) == 1
    assert page.read_text() == "stale\n"
    assert generate.main([]) == 0
    assert page.read_text() == "fresh\n"


def test_strict_build(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                             "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                            text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "parameters" / "index.html").exists()


def named_texts() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_named_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set()
    for line in makefile.splitlines():
        match = re.match(r"^([\w .-]+):(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    named = {(path.name, target) for path in named_texts()
             for target in re.findall(r"(?:`|^)make ([a-z][\w-]*)", path.read_text(),
                                     flags=re.MULTILINE)}
    assert len(named) > 10
    missing = sorted(f"{name}: make {target}" for name, target in named if target not in targets)
    assert not missing


def test_named_modules_exist():
    named = {(path.name, module) for path in named_texts()
             for module in re.findall(r"python -m ((?:activation_study|stages)(?:\.\w+)*)",
                                      path.read_text())}
    assert len(named) > 5
    missing = sorted(f"{name}: {module}" for name, module in named
                     if importlib.util.find_spec(module) is None)
    assert not missing
