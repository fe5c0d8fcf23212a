"""The activation files' names and shape parameters, read without running them (``ast``).

Parameter validation runs without torch: it learns which functions exist, and which shape
parameter each takes, from the ``SHAPE = {...}`` literal of each file. There is no second list
to keep in step: a file in this folder is an activation.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Shape:
    """A function's shape parameter: its name, its default (params.yaml, train.shape.<name>)
    and the open interval of allowed values."""

    name: str
    default: float
    range: tuple[float, float] = (0.0, 1.0)


class CatalogueError(ValueError):
    """An activation file whose ``SHAPE`` cannot be read without running it."""


def activation_files(folder: Path = FOLDER) -> dict[str, Path]:
    """Every activation file of ``folder`` by name, sorted: ``<name>.py``, names not starting
    with ``_`` (those are this package's own modules)."""
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")}


def read_shape(path: Path) -> Shape | None:
    """The ``SHAPE`` literal of an activation file: None (or absent) when the function has no
    shape parameter, else ``{"name": ..., "default": ..., "range": [low, high]}``."""
    for node in ast.parse(path.read_text(), str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        if any(isinstance(t, ast.Name) and t.id == "SHAPE" for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise CatalogueError(f"{path}: SHAPE must be a literal (None or a dict with "
                                     "name, default and range)") from None
            if value is None:
                return None
            if (not isinstance(value, dict) or set(value) - {"name", "default", "range"}
                    or not {"name", "default"} <= set(value)):
                raise CatalogueError(f"{path}: SHAPE must be None or a dict with keys name, "
                                     f"default and optionally range; got {value!r}")
            low, high = value.get("range", (0.0, 1.0))
            shape = Shape(str(value["name"]), float(value["default"]), (float(low), float(high)))
            if not low < shape.default < high:
                raise CatalogueError(f"{path}: SHAPE's default {shape.default} is outside its "
                                     f"range ({low}, {high})")
            return shape
    return None


def catalogue(folder: Path = FOLDER) -> dict[str, Shape | None]:
    """name -> its shape parameter (None when it has none), for every activation file."""
    return {name: read_shape(path) for name, path in activation_files(folder).items()}
