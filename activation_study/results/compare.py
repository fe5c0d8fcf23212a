"""Compare two revisions' results, configuration by configuration, with seed uncertainty.

    python -m activation_study.results.compare [A] [B] [--all] [--md [FILE]] [--alpha 0.05]

A and B are git revisions, branches, tags or DVC experiment names (``dvc exp show``); by
default A is ``HEAD`` and B the workspace. Nothing is rerun: both sides' per-configuration
metrics (``metrics/<stage>/<id>.json``, plain git-tracked outputs) are read through DVC's
filesystem at each revision, and every headline quantity (``activation_study.results.headline``) is
set side by side: each side's mean ± s.e. over seeds, the difference B - A, and whether that
difference stands out from seed noise by Welch's t-test over the per-seed values.

With 2-3 seeds a side, Welch's test has 1-4 degrees of freedom: it misses all but large
differences (low power), and over many quantities about ``alpha`` of the unchanged ones are
flagged by chance. Read "beyond seed noise" as "worth a closer look with more seeds".

Above the table it says whether both sides were computed in one numeric environment (the
``numerics`` block each computing stage records, ``activation_study.results.numerics``): if
not, a difference may come from the machine or the libraries, not the edit.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats
from tabulate import tabulate

from activation_study.results.headline import METRICS, STAGES, Quantity, quantities
from activation_study.results.numerics import (
    KEY,
    NOT_RECORDED,
    Difference,
    describe,
    fingerprints,
    side_differences,
)

WORKSPACE = "workspace"
ANCHOR_STAGE = "train"  # a configuration exists on a side where train's metrics file does


@dataclass(frozen=True)
class Row:
    """One quantity of one configuration on both sides (``a`` or ``b`` None: absent there)."""

    config: str
    label: str
    a: Quantity | None
    b: Quantity | None
    changed: bool
    verdict: str
    p_value: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The rows; the configurations on one side only; the differences of the numeric
    environments (``(field, A, B)``), the configurations they occur in, and else the
    environments both sides share (:func:`describe` of each)."""

    rows: list[Row]
    added: list[str]
    removed: list[str]
    numerics: list[Difference] = field(default_factory=list)
    numerics_configs: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[Row]:
        return [row for row in self.rows if row.changed]


def _values(q: Quantity) -> np.ndarray:
    return np.array([v for v in q.per_seed if v is not None], dtype=np.float64)


def verdict(a: Quantity, b: Quantity, alpha: float) -> tuple[bool, str, float | None]:
    """(changed, verdict, p-value) of one quantity between the two sides."""
    if a.is_setting or b.is_setting:
        changed = a.mean != b.mean
        return changed, "setting" if changed else "unchanged", None
    x, y = _values(a), _values(b)
    if x.shape == y.shape and np.array_equal(x, y):
        return False, "unchanged", None
    if len(x) < 2 or len(y) < 2:
        return True, "fewer than 2 seeds: no test", None
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # every seed agrees on each side; the sides differ
        return True, "beyond seed noise (no spread over seeds)", 0.0
    with warnings.catch_warnings():  # one side without spread: scipy warns, the test holds
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(x, y, equal_var=False).pvalue)
    return True, "beyond seed noise" if p < alpha else "within seed noise", p


def compare(a: dict[str, dict[str, dict]], b: dict[str, dict[str, dict]],
            alpha: float = 0.05) -> Comparison:
    """Compare ``{config id: {stage: metrics JSON}}`` of side A with side B."""
    def by_key(details: dict[str, dict]) -> dict[tuple, Quantity]:
        return {(q.stage, q.key): q for stage, d in details.items() for q in quantities(stage, d)}

    rows = []
    for config in sorted(set(a) & set(b)):
        qa, qb = by_key(a[config]), by_key(b[config])
        for key in list(qa) + [k for k in qb if k not in qa]:
            left, right = qa.get(key), qb.get(key)
            label = (left or right).label
            if left is None or right is None:
                rows.append(Row(config, label, left, right, True,
                                "only in B" if left is None else "only in A"))
                continue
            changed, text, p = verdict(left, right, alpha)
            rows.append(Row(config, label, left, right, changed, text, p))
    fa, fb = fingerprints(a), fingerprints(b)
    diffs, affected = side_differences(fa, fb)
    shared = sorted({describe(block) for config in set(fa) & set(fb)
                     for block in fa[config].values()})
    return Comparison(rows, added=sorted(set(b) - set(a)), removed=sorted(set(a) - set(b)),
                      numerics=diffs, numerics_configs=affected, environments=shared)


def read_side(fs, root: str = "") -> dict[str, dict[str, dict]]:
    """Every configuration's metrics JSON on one side, through a fsspec filesystem (DVC's at a
    revision): ``{config id: {stage: metrics}}`` for the stages that have a file."""
    def path(*parts: str) -> str:
        return "/".join(p for p in (root.rstrip("/"), *parts) if p)

    anchor = path(str(METRICS), ANCHOR_STAGE)
    names = [Path(p).stem for p in fs.glob(f"{anchor}/*.json")] if fs.exists(anchor) else []
    side: dict[str, dict[str, dict]] = {}
    for name in sorted(names):
        side[name] = {}
        for stage in STAGES:
            file = path(str(METRICS), stage, f"{name}.json")
            if fs.exists(file):
                side[name][stage] = json.loads(fs.cat_file(file))
    return side


def open_side(repo: str, rev: str | None):
    """DVC's filesystem over ``repo`` at ``rev`` (a git revision or an experiment name), or
    over the workspace for None; and the revision's label."""
    from dvc.api import DVCFileSystem

    from activation_study.pipeline.dvc_internals import resolve_rev

    if rev is None:
        return DVCFileSystem(repo=repo), WORKSPACE
    sha = resolve_rev(repo, rev)
    return DVCFileSystem(repo=repo, rev=sha), f"{rev} ({sha[:7]})"


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2g}" if 0 < abs(value) < 0.005 else f"{value:.2f}"


def _side(q: Quantity | None) -> str:
    if q is None:
        return "-"
    if q.is_setting:
        return f"{q.mean:g}"
    return _number(q.mean) + ("" if q.se is None or q.mean is None else f" ± {_number(q.se)}")


def _difference(row: Row) -> str:
    if row.a is None or row.b is None:
        return "-"
    if row.a.is_setting:
        return f"× {row.b.mean / row.a.mean:.3g}" if row.a.mean else "-"
    if row.a.mean is None or row.b.mean is None:
        return "n/a"
    difference = row.b.mean - row.a.mean
    return ("+" if difference > 0 else "") + _number(difference)


def numerics_lines(result: Comparison, markdown: bool = False) -> list[str]:
    """The notice on the sides' numeric environments: the fields that differ, or the one
    environment both share."""
    if not result.numerics:
        if not result.environments:  # no configuration on both sides
            return []
        if result.environments == [NOT_RECORDED]:
            return ["Numeric environment: not recorded on either side (results written before "
                    "the stages recorded it)."]
        if len(result.environments) == 1:
            return [f"Both sides share one numeric environment: {result.environments[0]}."]
        return ["Both sides share their numeric environments, configuration by configuration: "
                + "; ".join(result.environments) + "."]
    unrecorded = all(path == KEY for path, _, _ in result.numerics)
    head = ("Numeric environment not recorded on one side" if unrecorded else
            "Numeric environments differ")
    reason = ("one side's results were written before the stages recorded it" if unrecorded
              else "A and B were computed with different kernels or library versions")
    configs = len({row.config for row in result.rows})
    lines = [f"{f'**{head}**' if markdown else head}: {reason}; differences below may come "
             f"from the machine, not the edit ({len(result.numerics_configs)} of {configs} "
             "configurations):"]
    if markdown:
        return lines + [""] + [f"- `{path}`: {a} -> {b}" for path, a, b in result.numerics]
    return lines + [f"  {path}: {a} -> {b}" for path, a, b in result.numerics]


def render(result: Comparison, a: str, b: str, markdown: bool = False,
           show_all: bool = False, alpha: float = 0.05) -> str:
    """The comparison as a table: plain text, or markdown for a pull request."""
    rows = result.rows if show_all else result.changed
    configs = {row.config for row in result.rows}
    lines = [f"{'## ' if markdown else ''}Results: A = {a}, B = {b}", "",
             f"{len(configs)} configurations on both sides; {len(result.changed)} headline "
             f"quantities changed in {len({r.config for r in result.changed})} of them."]
    for word, ids in (("Added in B", result.added), ("Removed in B", result.removed)):
        if ids:
            lines.append(f"{word}: " + ", ".join(f"`{i}`" if markdown else i for i in ids))
    notice = numerics_lines(result, markdown)
    lines += ["", *notice, ""] if notice else [""]
    if rows:
        table, last = [], None
        for row in rows:
            table.append([row.config if row.config != last else "", row.label, _side(row.a),
                          _side(row.b), _difference(row),
                          "" if row.p_value is None else f"{row.p_value:.3g}", row.verdict])
            last = row.config
        lines.append(tabulate(table, headers=["configuration", "quantity", "A", "B", "B - A",
                                              "p", "verdict"],
                              tablefmt="github" if markdown else "simple",
                              disable_numparse=True))
    else:
        lines.append("No headline quantity changed.")
    lines += ["", "A, B: mean ± s.e. over seeds, as the stages record them. Verdict: Welch's "
              f"t-test over the per-seed values at alpha = {alpha}; with 2-3 seeds a side it "
              "detects only large differences, and about 1 in 20 unchanged quantities is "
              "flagged by chance. A learning rate is a setting: no test, B - A is its ratio."]
    return "\n".join(lines) + "\n"


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m activation_study.results.compare",
        description="Compare the headline results of two revisions (git revisions, branches "
                    "or DVC experiment names) with seed uncertainty; nothing is rerun.")
    parser.add_argument("a", nargs="?", default="HEAD", help="side A (default: HEAD)")
    parser.add_argument("b", nargs="?", default=None, help="side B (default: the workspace)")
    parser.add_argument("--all", action="store_true", help="list unchanged quantities too")
    parser.add_argument("--md", nargs="?", const="-", metavar="FILE",
                        help="markdown for a pull request, to FILE or standard output")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the seed-noise test (default 0.05)")
    parser.add_argument("--repo", default=".", help="the repository (default: .)")
    args = parser.parse_args(None if argv is None else list(argv))
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha {args.alpha}: expected a number in (0, 1)")
    return args


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    from activation_study.pipeline.dvc_internals import rev_error
    try:
        (fs_a, label_a), (fs_b, label_b) = open_side(args.repo, args.a), open_side(args.repo,
                                                                                   args.b)
    except rev_error() as exc:
        print(f"error: {exc}: expected a git revision, branch, tag or DVC experiment name",
              file=sys.stderr)
        return 2
    side_a, side_b = read_side(fs_a), read_side(fs_b)
    for label, side in ((label_a, side_a), (label_b, side_b)):
        if not side:
            print(f"error: {label} has no {METRICS / ANCHOR_STAGE}/*.json: nothing to compare "
                  "(run `dvc repro` there first)", file=sys.stderr)
            return 2
    result = compare(side_a, side_b, args.alpha)
    text = render(result, label_a, label_b, markdown=args.md is not None, show_all=args.all,
                  alpha=args.alpha)
    if args.md not in (None, "-"):
        Path(args.md).write_text(text)
        print(f"{args.md}: {len(result.changed)} changed quantities")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
