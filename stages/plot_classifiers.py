"""Stage plot_classifiers: figures of the layer classifiers (dissertation Fig. 6.2-6.7).

Reads metrics/classify_layers/<id>.json of every configuration of the current grid (files of
configurations no longer in the grid are ignored). Writes plots/plot_classifiers/ as one
folder: layers_<dataset>_<activation>_w<width>_bn<bool>.png (per-layer accuracy of each system
for a row of depths, train and test, the network's accuracy dashed: Fig. 6.2-6.5) and
epochs_<id>.png for each id in plots.configs (the same in every saved state: Fig. 6.6/6.7).
"""

from __future__ import annotations

from activation_study.numerics import pin_stage

if __name__ == "__main__":  # before numpy and torch load (docs/reproducibility.md)
    pin_stage()

from pathlib import Path

from activation_study.common.atomic import atomic_path, read_json
from activation_study.common.configs import grid_configs, stage_address
from activation_study.common.errors import ParamError
from activation_study.common.param_reader import grid, load_params, plotted_configs
from activation_study.common.stage_entry import run
from activation_study.figures.classifiers import write_classifier_figures
from activation_study.results.headline import detail_path
from activation_study.results.tables import accuracy_table

OUTPUT = Path("plots/plot_classifiers")


def main() -> None:
    params = load_params()
    epoch_configs = plotted_configs(params)
    configs = grid_configs(grid(params))
    paths = {c["id"]: detail_path("classify_layers", c["id"]) for c in configs}
    missing = [f"{path} is missing: run `dvc repro {stage_address('classify_layers', cid)}`"
               for cid, path in paths.items() if not path.is_file()]
    if missing:
        raise ParamError("plot_classifiers needs:\n  " + "\n  ".join(missing))
    frame = accuracy_table({cid: read_json(path) for cid, path in paths.items()}, configs)
    with atomic_path(OUTPUT) as folder:
        folder.mkdir()
        written = write_classifier_figures(frame, epoch_configs, folder)
    for path in written:
        print(OUTPUT / path.name)


if __name__ == "__main__":
    run(main, "plot_classifiers")
