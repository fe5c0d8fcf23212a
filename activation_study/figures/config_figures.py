"""Every per-network figure of one configuration and seed (the plot_activations stage's).

Reads one configuration's extraction (extract_activations: meta.json, labels_train.npy,
pre_<state>_train.npy, slopes_<state>.npy for PReLU) and node metrics (compute_metrics:
<state>_<set>_<key>.npy, arrays (L, S, ...) with seeds second), checks that every file is
there first, and draws the figures of ``activation_study.figures.network`` into a folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from activation_study.common.atomic import read_json
from activation_study.common.configs import stage_address
from activation_study.common.errors import ParamError
from activation_study.figures.network import (
    STATE_LABEL,
    STATES,
    activation_probability_figure,
    choose_nodes,
    class_activity_heatmap,
    class_medians_figure,
    histogram_figure,
    histogram_layers,
    node_activity_figure,
    slopes_figure,
)
from activation_study.figures.style import DPI, activation_colour, save_png
from activation_study.network.model import get_activation

NODE_KEYS = ("pre_median", "act_median", "activity", "activity_per_class", "dead",
             "activation_probability")
TEST_KEYS = ("activity", "dead", "activation_probability")


def _check_inputs(extraction_dir: Path, metrics_dir: Path) -> dict:
    """meta.json, after checking that every file the figures read is there (all named)."""
    missing_extract = [p for p in (extraction_dir / "meta.json",) if not p.is_file()]
    meta = {} if missing_extract else read_json(extraction_dir / "meta.json")
    sets = meta.get("sets", ["train"])
    if meta:
        missing_extract += [p for p in (extraction_dir / "labels_train.npy",
                                        *(extraction_dir / f"pre_{s}_train.npy" for s in STATES))
                            if not p.is_file()]
    metric_files = [metrics_dir / f"{state}_train_{key}.npy" for state in STATES
                    for key in NODE_KEYS]
    if "test" in sets:
        metric_files += [metrics_dir / f"{state}_test_{key}.npy" for state in STATES
                         for key in TEST_KEYS]
    missing_metrics = [p for p in metric_files if not p.is_file()]
    extract = stage_address("extract_activations", extraction_dir.name)
    compute = stage_address("compute_metrics", metrics_dir.name)
    lines = [f"{p} is missing: run `dvc repro {extract}`" for p in missing_extract]
    lines += [f"{p} is missing: run `dvc repro {compute}`" for p in missing_metrics]
    if lines:
        raise ParamError("plot_activations needs these inputs:\n  " + "\n  ".join(lines))
    absent = [s for s in STATES if s not in meta["states"]]
    if absent:
        raise ParamError(f"{extraction_dir / 'meta.json'}: no state {', '.join(absent)}; "
                         f"rerun `dvc repro {extract}`")
    try:
        get_activation(meta["spec"]["activation"])
    except KeyError as exc:
        raise ParamError(f"{extraction_dir / 'meta.json'}: {exc.args[0]}") from None
    return meta


def write_config_figures(extraction_dir: Path, metrics_dir: Path, out_dir: Path,
                         seed_index: int, hist_nodes: int, dpi: int = DPI) -> list[Path]:
    """Every per-network figure of one configuration and seed as PNG into ``out_dir``.

    Reads ``extraction_dir`` (extract_activations: meta.json, labels_train.npy,
    pre_<state>_train.npy) and ``metrics_dir`` (compute_metrics: <state>_<set>_<key>.npy,
    arrays (L, S, ...) with seeds second); draws seed ``meta["seeds"][seed_index]``.
    Writes histograms_initial.png and histograms_best.png (the same nodes in both: chosen
    by ``choose_nodes`` on the trained network), class_medians.png, class_medians_pre.png,
    node_activity.png, class_activity_heatmap.png, activation_probability_sorted.png (test
    set when extracted, else training set) and, for PReLU, prelu_slopes.png. Raises
    ParamError naming every missing input and the stage that writes it.
    """
    extraction_dir, metrics_dir, out_dir = Path(extraction_dir), Path(metrics_dir), Path(out_dir)
    meta = _check_inputs(extraction_dir, metrics_dir)
    seeds = meta["seeds"]
    if not 0 <= seed_index < len(seeds):
        raise ParamError(f"params.yaml: 'plots.seed_index' = {seed_index} is not allowed; "
                         f"{extraction_dir.name} has {len(seeds)} seeds (0..{len(seeds) - 1})")
    spec = meta["spec"]
    activation = spec["activation"]
    num_classes = int(spec["num_classes"])
    network = f"{extraction_dir.name}, seed {seeds[seed_index]}"
    threshold = get_activation(activation, spec.get("shape")).on_threshold

    def metric(state: str, part: str, key: str) -> np.ndarray:
        return np.load(metrics_dir / f"{state}_{part}_{key}.npy", mmap_mode="r")[:, seed_index]

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Figure, name: str) -> None:
        written.append(save_png(fig, out_dir / name, dpi))

    labels = np.load(extraction_dir / "labels_train.npy")
    depth = metric("best", "train", "dead").shape[0]
    nodes = {layer: choose_nodes(metric("best", "train", "pre_median")[layer],
                                 metric("best", "train", "dead")[layer], hist_nodes)
             for layer in histogram_layers(depth)}
    slopes = {state: np.load(extraction_dir / f"slopes_{state}.npy") for state in meta["states"]
              if (extraction_dir / f"slopes_{state}.npy").is_file()}
    for state in STATES:
        pre = np.load(extraction_dir / f"pre_{state}_train.npy", mmap_mode="r")[:, seed_index]
        seed_slopes = slopes[state][:, seed_index] if state in slopes else None
        save(histogram_figure(
            pre, labels, nodes, activation, num_classes,
            f"{network}\nclass distributions at single nodes, {STATE_LABEL[state]}, training set"
            "\nnodes: live nodes ranked by spread of class medians (trained): the top one, then "
            "evenly spaced ranks", shape=spec.get("shape"), slopes=seed_slopes),
            f"histograms_{state}.png")
    if slopes:
        save(slopes_figure(slopes, f"{extraction_dir.name}: learned PReLU slopes, every node "
                                   "and seed"), "prelu_slopes.png")

    for key, name, what in (("act_median", "class_medians.png", f"activations {activation}(z)"),
                            ("pre_median", "class_medians_pre.png", "pre-activations z")):
        save(class_medians_figure(
            {STATE_LABEL[s]: metric(s, "train", key) for s in STATES},
            f"class median of {what.split()[-1]}",
            f"{network}\nmedian of every class at every node: {what}, training set"), name)

    rows = {"trained,\ntraining set": (metric("best", "train", "activity"),
                                       metric("best", "train", "dead"))}
    if "test" in meta["sets"]:
        rows["trained,\ntest set"] = (metric("best", "test", "activity"),
                                      metric("best", "test", "dead"))
    rows["untrained,\ntraining set"] = (metric("initial", "train", "activity"),
                                        metric("initial", "train", "dead"))
    save(node_activity_figure(
        rows, activation_colour(activation, [activation]),
        f"{network}\nnode activity: % of samples with {activation}(z) > {threshold:g}"),
        "node_activity.png")

    save(class_activity_heatmap(
        metric("best", "train", "activity_per_class"), metric("best", "train", "dead"),
        f"{network}\nclass-specific activity per node, {STATE_LABEL['best']}, training set"),
        "class_activity_heatmap.png")

    part = "test" if "test" in meta["sets"] else "train"
    save(activation_probability_figure(
        {s: metric(s, part, "activation_probability") for s in STATES},
        f"{network}\nactivation probabilities per layer, sorted, {part} set"),
        "activation_probability_sorted.png")
    return written
