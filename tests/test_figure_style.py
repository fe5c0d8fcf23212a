"""What every figure shares: an activation's colour everywhere, dense figures kept small."""

import numpy as np
from PIL import Image

from activation_study.activations._catalogue import catalogue
from activation_study.figures.style import (
    MAX_PNG_BYTES,
    activation_colour,
    curve_colours,
    new_figure,
    save_png,
)


def test_other_activations_get_distinct_colours_the_same_in_every_figure():
    colours = curve_colours(["relu", "tanh", "sigmoid"])
    assert colours["relu", "train"] == "tab:blue"
    assert colours["sigmoid", "validation"] == "tab:orange"
    assert len(set(map(str, colours.values()))) == len(colours) == 6
    every = curve_colours(list(catalogue()))
    assert len(set(map(str, every.values()))) == len(every) == 2 * len(catalogue())
    # by rank in the study's grid: a panel showing a subset keeps the study's colours, and
    # a new activation file elsewhere in the folder changes nothing
    grid = ["relu", "sigmoid", "tanh", "gelu", "mish"]
    assert activation_colour("gelu", grid) == curve_colours(grid)["gelu", "train"]
    assert curve_colours(grid) == {k: v for k, v in curve_colours(grid + ["elu"]).items()
                                   if k[0] != "elu"}


def test_save_png_keeps_dense_figures_small(tmp_path):
    rng = np.random.default_rng(3)
    fig = new_figure(16.0, 6.0)
    ax = fig.subplots()
    ax.scatter(np.arange(8000), rng.normal(0, 1, 8000), s=3.5, lw=0,
               c=rng.uniform(0, 1, (8000, 3)))
    path = save_png(fig, tmp_path / "dense.png")
    assert path.stat().st_size <= MAX_PNG_BYTES
    with Image.open(path) as image:
        assert image.mode == "P"  # written with a palette
