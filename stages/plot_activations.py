"""Stage plot_activations@CONFIG: per-network figures of chapters 4-5 and seed 004.

Reads data/extract_activations/<config>/ and data/compute_metrics/<config>/ and the params
plots.seed_index (which seed's network) and plots.hist_nodes (nodes per layer in the
histograms). Writes plots/plot_activations/<config>/ as one folder: histograms_initial.png,
histograms_best.png (Fig. 4.1/4.2, 4.6/4.7), class_medians.png and class_medians_pre.png
(Fig. 4.3-4.5, 4.8-4.10), node_activity.png (Fig. 5.1), class_activity_heatmap.png (Fig. 5.6)
and activation_probability_sorted.png (seed 004, Fig. 2-4); for PReLU also prelu_slopes.png.
"""

from __future__ import annotations

from pathlib import Path

from activation_study.io import atomic_path
from activation_study.node_plots import write_config_figures
from activation_study.params import get, load_params, positive_int, require
from stages._cli import config_argument, run

EXTRACTIONS = Path("data/extract_activations")
NODE_METRICS = Path("data/compute_metrics")
OUTPUT = Path("plots/plot_activations")


def main() -> None:
    config = config_argument(__doc__)
    params = load_params()
    seed_index = get(params, "plots.seed_index")
    require(isinstance(seed_index, int) and not isinstance(seed_index, bool) and seed_index >= 0,
            "plots.seed_index", seed_index, "an integer >= 0 (index into train.seeds)")
    hist_nodes = positive_int(params, "plots.hist_nodes")
    with atomic_path(OUTPUT / config) as folder:
        written = write_config_figures(EXTRACTIONS / config, NODE_METRICS / config, folder,
                                       seed_index, hist_nodes)
    for path in written:
        print(OUTPUT / config / path.name)


if __name__ == "__main__":
    run(main)
