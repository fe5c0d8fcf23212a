"""The numeric fingerprints of the stored results: read, compared and described.

Every computing stage writes a ``numerics`` block beside its numbers in
``metrics/<stage>/<id>.json`` (``activation_study.numerics``): what decides their
bits (CPU numerics mode and level, the kernels each library took, threads, library versions,
device). Two results computed in different environments may differ in their last bits, and
over training in more than that, with no edit of the study behind it; ``compare`` and the
report say so from these blocks (docs/reproducibility.md). Results written before the stages
recorded it have no block: "not recorded". The block is no headline quantity: it stays out of
``metrics/summarize/headline.json`` and of what ``compare`` tests.

Pure functions over the loaded metrics dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

KEY = "numerics"
NOT_RECORDED = "not recorded"
ABSENT = "-"

Block = dict[str, Any]
Difference = tuple[str, str, str]  # (path, A's value, B's value)


def computed(stage: str, detail: Mapping[str, Any]) -> bool:
    """Whether the stage computed anything for this file: tune with a fixed rate only copies
    params.yaml and writes no fingerprint."""
    return not (stage == "tune" and detail.get("mode") == "fixed")


def fingerprints(side: Mapping[str, Mapping[str, Mapping[str, Any]]]
                 ) -> dict[str, dict[str, Block | None]]:
    """``{config: {stage: numerics block, None where not recorded}}`` of one side's metrics
    (``{config: {stage: metrics JSON}}``), for the stages that computed something."""
    return {config: {stage: detail.get(KEY) for stage, detail in stages.items()
                     if computed(stage, detail)}
            for config, stages in side.items()}


def leaves(block: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf; a list is one leaf."""
    for key, value in block.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def differences(a: Block | None, b: Block | None) -> list[Difference]:
    """The fields in which two blocks differ, as ``(path, a, b)`` in the blocks' order
    (``kernels.torch``, ``AVX2``, ``AVX512``); a field on one side only is ``-`` on the other.
    One block missing: a single ``("numerics", "not recorded", describe(other))``."""
    if a is None or b is None:
        return [] if a is b else [(KEY, describe(a), describe(b))]
    left, right = dict(leaves(a)), dict(leaves(b))
    paths = list(left) + [p for p in right if p not in left]
    return [(p, _text(left[p]) if p in left else ABSENT, _text(right[p]) if p in right else ABSENT)
            for p in paths if left.get(p, ABSENT) != right.get(p, ABSENT)]


def describe(block: Block | None) -> str:
    """One line: mode, level, threads, device (``portable CPU numerics (x86-64-v3), 1 thread,
    CPU``); the kernels and versions are in the block."""
    if block is None:
        return NOT_RECORDED
    mode, level = block.get("cpu_numerics", "?"), block.get("level")
    threads = block.get("threads")
    parts = [f"{mode} CPU numerics" + (f" ({level})" if level and level != mode else ""),
             f"{threads} thread{'' if threads == 1 else 's'}", _device(block.get("device", {}))]
    return ", ".join(parts)


def _device(device: Mapping[str, Any]) -> str:
    kind = device.get("type", "?")
    if kind != "cuda":
        return kind.upper()
    return f"GPU {device.get('gpu', '?')} (CUDA {device.get('cuda', '?')})"


def side_differences(a: Mapping[str, Mapping[str, Block | None]],
                     b: Mapping[str, Mapping[str, Block | None]]
                     ) -> tuple[list[Difference], list[str]]:
    """The differences between two sides' fingerprints (of :func:`fingerprints`), over the
    configurations and stages both have, deduplicated in order of appearance; and the
    configurations where any occurs."""
    found: dict[Difference, None] = {}
    affected = []
    for config in sorted(set(a) & set(b)):
        diffs = [d for stage in a[config] if stage in b[config]
                 for d in differences(a[config][stage], b[config][stage])]
        found |= dict.fromkeys(diffs)
        affected += [config] if diffs else []
    return list(found), affected


def _canonical(block: Block | None) -> str:
    return json.dumps(block, sort_keys=True)


def environments(blocks: Mapping[str, Block | None]) -> list[tuple[Block | None, list[str]]]:
    """The distinct blocks of ``{config: block}`` with the configurations of each, the most
    shared first (ties by the first configuration)."""
    groups: dict[str, list[str]] = {}
    for config in sorted(blocks):
        groups.setdefault(_canonical(blocks[config]), []).append(config)
    ordered = sorted(groups.values(), key=lambda ids: (-len(ids), ids[0]))
    return [(blocks[ids[0]], ids) for ids in ordered]
