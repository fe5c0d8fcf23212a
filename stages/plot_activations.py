"""Stage plot_activations@CONFIG: per-network figures of chapters 4-5 and seed 004.

Reads data/extract_activations/<config>/ and data/compute_metrics/<config>/ and the params
plots.seed_index (which seed's network) and plots.hist_nodes (nodes per layer in the
histograms). Writes plots/plot_activations/<config>/ as one folder: histograms_initial.png,
histograms_best.png (Fig. 4.1/4.2, 4.6/4.7), class_medians.png and class_medians_pre.png
(Fig. 4.3-4.5, 4.8-4.10), node_activity.png (Fig. 5.1), class_activity_heatmap.png (Fig. 5.6)
and activation_probability_sorted.png (seed 004, Fig. 2-4); for PReLU also prelu_slopes.png.
The figures themselves are ``activation_study.figures.config_figures`` and ``.network``.
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from pathlib import Path

from activation_study.common.atomic import atomic_path
from activation_study.common.param_reader import get, load_params, require
from activation_study.common.stage_entry import config_argument, run
from activation_study.figures.config_figures import write_config_figures

EXTRACTIONS = Path("data/extract_activations")
NODE_METRICS = Path("data/compute_metrics")
OUTPUT = Path("plots/plot_activations")


def main() -> str:
    config = config_argument(__doc__, plotted=True)
    params = load_params()
    seed_index, hist_nodes = get(params, "plots.seed_index"), get(params, "plots.hist_nodes")
    require(isinstance(seed_index, int) and seed_index >= 0, "plots.seed_index", seed_index,
            "an index into train.seeds")
    require(isinstance(hist_nodes, int) and hist_nodes >= 1, "plots.hist_nodes", hist_nodes,
            "an integer >= 1")
    with atomic_path(OUTPUT / config) as folder:
        written = write_config_figures(EXTRACTIONS / config, NODE_METRICS / config, folder,
                                       seed_index, hist_nodes)
    for path in written:
        print(OUTPUT / config / path.name)
    return config


if __name__ == "__main__":
    run(main, "plot_activations")
