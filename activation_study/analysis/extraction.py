"""Extraction of hidden-layer pre-activations and gradient-flow diagnostics.

Writes ``data/extract_activations/<config>/`` (numpy only):

- ``meta.json``: spec, seeds, states, sets, dtype, samples_per_class, layout;
- ``labels_<set>.npy`` (int64) and ``indices_<set>.npy`` (the samples of the split part kept);
- ``pre_<state>_<set>.npy``: pre-activations (the values fed into the activation function,
  after batch norm), shape ``(layers, seeds, samples, nodes)``;
- ``predicted_<state>_<set>.npy`` (int16): the network's predicted class, ``(seeds, samples)``,
  so the network's accuracy is known on exactly the extracted samples;
- ``slopes_<state>.npy`` (PReLU only): the learned slopes, ``(layers, seeds, nodes)``;
- ``flow.json``: per state, set and layer, the per-seed variance of pre-activations, of
  activations and of the gradient of each sample's loss with respect to the pre-activations
  (gradient of the summed per-sample cross-entropy, so no 1/N scaling), over samples and nodes.

float16 storage keeps about 3 significant digits and every sign (only |z| < 3e-8 rounds to
0). On/off decisions are therefore unchanged up to such ties (ReLU and tanh switch at
pre-activation 0, and sigmoid(z) > 0.5 iff z > 0); medians and histograms change by rounding
only. Flow diagnostics are computed in float32 before anything is stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from activation_study.common.atomic import atomic_path, read_json, significant, write_json
from activation_study.network.model import (
    BatchedMLP,
    as_inputs,
    per_sample_loss,
    resolve_device,
    use_deterministic_algorithms,
)
from activation_study.network.stored import load_models

Split = dict[str, tuple[np.ndarray, np.ndarray]]
FLOW_KEYS = ("preactivation_var", "activation_var", "gradient_var")
CHUNK = 4096


def select_samples(labels: np.ndarray, samples_per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices: every sample, or up to ``samples_per_class`` per class (seeded)."""
    if samples_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keys = rng.random(len(labels))
    order = np.lexsort((keys, labels))  # by class, random within class
    counts = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(labels)) - np.repeat(starts, counts)
    return np.sort(order[rank < samples_per_class])


def model_states(checkpoint: dict) -> list[str]:
    """``initial``, ``epoch<k>`` for each snapshot (ascending), ``best``."""
    return ["initial", *[f"epoch{k}" for k in sorted(checkpoint["snapshots"])], "best"]


def load_state(checkpoint: dict, state: str, device: torch.device | str) -> BatchedMLP:
    key: str | int = int(state.removeprefix("epoch")) if state.startswith("epoch") else state
    return load_models(checkpoint, key, device=str(device))


def extract_state(model: BatchedMLP, x: torch.Tensor, y: torch.Tensor, chunk: int = CHUNK
                  ) -> tuple[list[torch.Tensor], torch.Tensor, dict[str, np.ndarray]]:
    """Pre-activations ``(S, N, W)`` per layer (eval mode), predicted classes ``(S, N)`` and
    flow variances ``(L, S)``."""
    model.eval()
    depth, s = model.spec.depth, model.num_models
    sums = {key: torch.zeros(2, depth, s, dtype=torch.float64, device=x.device)
            for key in FLOW_KEYS}  # [sum, sum of squares]
    pre_chunks: list[list[torch.Tensor]] = [[] for _ in range(depth)]
    predicted = []
    for start in range(0, len(x), chunk):
        xb, yb = x[start:start + chunk], y[start:start + chunk]
        logits, pre = model(xb, return_preactivations=True)
        loss = per_sample_loss(logits, yb.expand(s, -1)).sum()
        grads = torch.autograd.grad(loss, pre)
        with torch.no_grad():
            for layer, (z, g) in enumerate(zip(pre, grads, strict=True)):
                values = (("preactivation_var", z), ("activation_var", model.activate(z, layer)),
                          ("gradient_var", g))
                for key, v in values:
                    sums[key][0, layer] += v.sum(dim=(1, 2), dtype=torch.float64)
                    sums[key][1, layer] += (v * v).sum(dim=(1, 2), dtype=torch.float64)
                pre_chunks[layer].append(z.detach().float())
            predicted.append(logits.argmax(dim=2))
    count = len(x) * model.spec.width
    flow = {key: ((v[1] / count) - (v[0] / count) ** 2).cpu().numpy() for key, v in sums.items()}
    return [torch.cat(chunks, dim=1) for chunks in pre_chunks], torch.cat(predicted, dim=1), flow


def extract_config(checkpoint: dict, split: Split, out_folder: Path,
                   samples_per_class: int | None, seed: int, dtype: str = "float16",
                   device: str = "auto", sets: tuple[str, ...] = ("train", "test"),
                   initial_batchnorm: str = "training_set", progress: bool = True,
                   numerics: dict | None = None) -> None:
    """Every state x set of one configuration into ``out_folder``, written atomically.

    ``initial_batchnorm``: ``training_set`` normalises the untrained state's batch-norm
    layers with the population statistics of the extracted training samples (what the
    network normalises with when training starts); ``as_initialised`` keeps the initial
    running statistics (mean 0, variance 1), under which batch norm is the identity.
    ``numerics``: the stage's numeric fingerprint, recorded in meta.json.
    """
    device_ = resolve_device(device)
    if device_.type == "cuda":
        use_deterministic_algorithms(device_)
    states = model_states(checkpoint)
    chosen = {part: select_samples(split[part][1], samples_per_class, seed) for part in sets}
    data = {part: (as_inputs(split[part][0][idx], device_),
                   torch.as_tensor(split[part][1][idx], device=device_).long())
            for part, idx in chosen.items()}
    flow: dict = {}
    with atomic_path(out_folder) as out:
        out.mkdir()
        for part, idx in chosen.items():
            np.save(out / f"labels_{part}.npy", split[part][1][idx].astype(np.int64))
            np.save(out / f"indices_{part}.npy", idx.astype(np.int64))
        for state in tqdm(states, desc=f"extract {out_folder.name}", unit="state",
                          disable=not progress):
            model = load_state(checkpoint, state, device_)
            if state == "initial" and initial_batchnorm == "training_set":
                model.calibrate_batchnorm(data["train"][0])
            flow[state] = {}
            if hasattr(model, "slopes"):
                np.save(out / f"slopes_{state}.npy",
                        torch.stack(list(model.slopes)).detach().cpu().numpy())
            for part in sets:
                pre, predicted, state_flow = extract_state(model, *data[part])
                stacked = torch.stack(pre).cpu().numpy().astype(dtype)
                np.save(out / f"pre_{state}_{part}.npy", stacked)
                np.save(out / f"predicted_{state}_{part}.npy",
                        predicted.cpu().numpy().astype(np.int16))
                flow[state][part] = {k: [[significant(x, 7) for x in row] for row in v]
                                    for k, v in state_flow.items()}
        write_json(out / "flow.json", flow)
        write_json(out / "meta.json", {
            "spec": checkpoint["spec"], "seeds": checkpoint["seeds"], "states": states,
            "sets": list(sets), "dtype": dtype, "samples_per_class": samples_per_class,
            "initial_batchnorm": initial_batchnorm,
            "layout": "pre_<state>_<set>.npy: (layers, seeds, samples, nodes); "
                      "predicted_<state>_<set>.npy: (seeds, samples)",
            **({"numerics": numerics} if numerics is not None else {}),
        })


def load_extraction(folder: Path) -> dict:
    """Meta, flow, labels, predictions and memory-mapped pre-activations of an extraction."""
    meta = read_json(folder / "meta.json")
    return {
        **meta,
        "flow": read_json(folder / "flow.json"),
        "labels": {part: np.load(folder / f"labels_{part}.npy") for part in meta["sets"]},
        "pre": {(state, part): np.load(folder / f"pre_{state}_{part}.npy", mmap_mode="r")
                for state in meta["states"] for part in meta["sets"]},
        "predicted": {(state, part): np.load(folder / f"predicted_{state}_{part}.npy")
                      for state in meta["states"] for part in meta["sets"]},
        "slopes": {state: np.load(folder / f"slopes_{state}.npy") for state in meta["states"]
                   if (folder / f"slopes_{state}.npy").is_file()},
    }
