"""The look every figure of the study shares: the canvas, PNG files, colours, batch-norm labels.

Figures are drawn on matplotlib's Agg canvas without pyplot, so no global figure state
outlives a call. An activation has the same colour in every figure (relu blue, sigmoid red,
as in the dissertation) and a class the same colour in every per-network figure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from PIL import Image

DPI = 110
MAX_PNG_BYTES = 200_000
KINDS = {"train": "-", "validation": "--"}  # curve kind -> line style
PAPER_COLOURS = {("relu", "train"): "tab:blue", ("sigmoid", "train"): "tab:red",
                 ("relu", "validation"): "tab:green", ("sigmoid", "validation"): "tab:orange"}
# (train, validation) pairs, dark and light of one hue, for the other activations in the
# grid's order (grid.activations): the hues of tab20 the paper's colours leave free, then tab20b's
SPARE_PAIRS = ([(to_hex(colormaps["tab20"](i)), to_hex(colormaps["tab20"](i + 1)))
                for i in range(8, 20, 2)]
               + [(to_hex(colormaps["tab20b"](i)), to_hex(colormaps["tab20b"](i + 2)))
                  for i in range(0, 20, 4)])
BATCHNORM_LABEL = {False: "no batch norm", True: "batch norm"}


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG; one over ``MAX_PNG_BYTES`` (dense scatters and overlaid fills)
    is written instead with an adaptive 256-colour palette, which keeps it a few times
    smaller without a visible change."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if buffer.tell() > MAX_PNG_BYTES:
        image = Image.open(buffer).convert("RGB")
        palette = image.quantize(256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        palette.save(buffer, format="png", optimize=True, dpi=(dpi, dpi))
    Path(path).write_bytes(buffer.getvalue())
    return Path(path)


def class_colours(num_classes: int) -> list[tuple[float, float, float]]:
    """A colour per class: tab10 for up to 10 classes, tab20 up to 20, turbo beyond."""
    if num_classes <= 10:
        return [to_rgb(c) for c in colormaps["tab10"].colors[:num_classes]]
    if num_classes <= 20:
        return [to_rgb(c) for c in colormaps["tab20"].colors[:num_classes]]
    return [to_rgb(c) for c in colormaps["turbo"](np.linspace(0, 1, num_classes))]


def curve_colours(activations: Iterable[str]) -> dict[tuple[str, str], str]:
    """A colour per (activation, curve kind): the paper's for relu and sigmoid, a dark (train)
    / light (validation) pair of one hue for each other function, by its rank among the others
    in ``activations``. Pass the grid's ``grid.activations`` everywhere, and an activation
    has the same colour in every figure of a study, whatever files the activation folder
    holds."""
    activations = list(activations)
    others = [name for name in activations if (name, "train") not in PAPER_COLOURS]
    colours = {}
    for activation in activations:
        rank = others.index(activation) if activation in others else 0
        spare = SPARE_PAIRS[rank % len(SPARE_PAIRS)]
        for index, kind in enumerate(KINDS):
            colours[activation, kind] = PAPER_COLOURS.get((activation, kind)) or spare[index]
    return colours


def activation_colour(name: str, activations: Iterable[str]) -> str:
    """The colour of ``name`` (its train curve's) in a study of ``activations`` (the grid's
    ``grid.activations``): relu blue, sigmoid red."""
    return curve_colours(activations)[name, "train"]
