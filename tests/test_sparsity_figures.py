"""The study-wide per-layer sparsity and dead-node bars of the plot stage."""

import numpy as np
import pandas as pd
from PIL import Image

from activation_study.figures.sparsity import sparsity_dead_bars
from activation_study.figures.style import save_png


def layer_table(depths=(1, 2)) -> pd.DataFrame:
    rows = []
    for activation in ("relu", "sigmoid"):
        for depth in depths:
            for bn in (False, True):
                for state in ("initial", "best"):
                    for layer in range(1, depth + 1):
                        rows.append({"dataset": "mnist5k", "activation": activation,
                                     "depth": depth, "width": 8, "batchnorm": bn,
                                     "state": state, "layer": layer,
                                     "sparsity_pct": 50.0 if state == "initial" else 75.0,
                                     "sparsity_pct_se": 1.0, "dead_pct": 2.0 * layer,
                                     "dead_pct_se": np.nan})
    return pd.DataFrame(rows)


def test_sparsity_dead_bars_draws_a_bar_per_configuration_state_and_layer():
    fig = sparsity_dead_bars(layer_table())
    axes = fig.axes
    assert len(axes) == 4  # 2 rows (sparsity, dead) x 2 depths
    top_left, top_right, bottom_left = axes[0], axes[1], axes[2]
    assert [ax.get_title() for ax in axes[:2]] == ["width 8, depth 1", "width 8, depth 2"]
    # 2 activations x 2 batch-norm settings x 2 states per layer
    assert len(top_left.patches) == 8 and len(top_right.patches) == 16
    assert len(bottom_left.patches) == 8
    hatched = [p for p in top_right.patches if p.get_hatch()]
    assert len(hatched) == 8 and {p.get_height() for p in hatched} == {50.0}
    assert {p.get_height() for p in top_right.patches if not p.get_hatch()} == {75.0}
    assert len(top_left.collections) == 8  # error bars where there is an s.e. ...
    assert not bottom_left.collections  # ... and none for a NaN s.e.
    assert top_left.get_ylim() == (0, 100)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"relu, no batch norm", "sigmoid, batch norm", "untrained (hatched)"} <= labels


def test_sparsity_dead_bars_writes_a_small_png(tmp_path):
    path = save_png(sparsity_dead_bars(layer_table((2, 4, 6))), tmp_path / "bars.png")
    assert 5_000 < path.stat().st_size < 250_000
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 500 and image.height >= 300
