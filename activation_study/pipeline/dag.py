"""What the parallel runner runs, read from DVC's own graph and status (no second DAG).

- `stage_plan`: the stale stages and every stage downstream of one, each with the stages it
  waits for, in the order a sequential `dvc repro` would visit them.
- `Plan.waves`: the same stages by earliest start, for ``--dry-run``.
- `Plan.tasks`: the same stages in the groups one ``dvc repro`` runs each: the stages of one
  matrix item (a configuration's ``tune``, ``train``, ``extract_activations``, ...), so that
  a configuration pays DVC's start, its reading of the pipeline and its lock round trips
  once, not once per stage.
- `order_lockfile`: a lock file lists stages in the order DVC finished them, so a parallel
  run that adds stages would list them in completion order; this puts the added ones in the
  order a sequential `dvc repro` writes them, so that both give the same bytes.

Stages are named as DVC addresses them from the repository's root: ``validate`` or
``split@digits`` in ``dvc.yaml``, ``pipelines/train/dvc.yaml:train@digits-relu-2-8-False`` for
the per-configuration kinds, which have a ``dvc.yaml`` and a lock file each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from activation_study.common.atomic import write_atomic
from activation_study.pipeline import dvc_internals

LOCKFILE = "dvc.lock"
KIND_DVCFILES = "pipelines/*/dvc.yaml"  # the per-configuration kinds' own pipeline files


@dataclass(frozen=True)
class Plan:
    """Stages to run, in sequential `dvc repro` order, each with the planned stages it needs."""

    upstream: dict[str, frozenset[str]]

    def waves(self) -> list[list[str]]:
        """Stages by earliest start: wave k needs only stages of earlier waves."""
        graph = nx.DiGraph()
        graph.add_nodes_from(self.upstream)
        graph.add_edges_from((up, name) for name, ups in self.upstream.items() for up in ups)
        return [sorted(wave) for wave in nx.topological_generations(graph)]

    def tasks(self, chains: bool = True) -> dict[tuple[str, ...], frozenset[tuple[str, ...]]]:
        """The stages in the groups one ``dvc repro`` runs each, every group in sequential
        `dvc repro` order and with the groups it waits for; groups in an order where those
        come first. ``chains``: a group holds the stages of one matrix item (the name after
        ``@``), and a stage without an item is a group of its own; else, and where grouping
        would make two groups wait for each other, every stage is a group of its own."""
        rank = {name: k for k, name in enumerate(self.upstream)}  # plan order
        key = {name: (chains and stage_item(name)) or name for name in self.upstream}
        members: dict[str, list[str]] = {}
        for name in self.upstream:
            members.setdefault(key[name], []).append(name)
        waits = {k: {key[up] for name in names for up in self.upstream[name]} - {k}
                 for k, names in members.items()}
        graph = nx.DiGraph()
        graph.add_nodes_from(members)
        graph.add_edges_from((up, k) for k, ups in waits.items() for up in ups)
        if not nx.is_directed_acyclic_graph(graph):
            return self.tasks(chains=False)
        order = nx.lexicographical_topological_sort(graph, key=lambda k: rank[members[k][0]])
        return {tuple(members[k]): frozenset(tuple(members[up]) for up in waits[k])
                for k in order}

    def describe(self) -> str:
        """The waves, each as stage counts by kind (``train``, ``compute_metrics``, ...)."""
        waves = self.waves()
        lines = [f"{len(self.upstream)} stages to run, in {len(waves)} waves"]
        for k, wave in enumerate(waves, 1):
            kinds = Counter(stage_kind(name) for name in wave)
            lines.append(f"  wave {k}: " + ", ".join(f"{n} {kind}"
                                                     for kind, n in sorted(kinds.items())))
        return "\n".join(lines)


def plain_name(address: str) -> str:
    """``pipelines/train/dvc.yaml:train@digits-relu-2-8-False`` -> ``train@digits-relu-2-8-False``
    (a stage of the root ``dvc.yaml`` is its own name)."""
    return address.rsplit(":", 1)[-1]


def stage_kind(address: str) -> str:
    """``pipelines/train/dvc.yaml:train@digits-relu-2-8-False`` -> ``train``."""
    return plain_name(address).split("@", 1)[0]


def stage_item(address: str) -> str | None:
    """``...:train@digits-relu-2-8-False`` -> ``digits-relu-2-8-False``; None for a plain stage."""
    name = plain_name(address)
    return name.split("@", 1)[1] if "@" in name else None


def dvcfiles(root: Path = Path(".")) -> list[Path]:
    """The pipeline's files, relative to ``root``: ``dvc.yaml``, then
    ``pipelines/<kind>/dvc.yaml`` (one per per-configuration stage kind)."""
    return [Path("dvc.yaml"), *sorted(path.relative_to(root)
                                      for path in root.glob(KIND_DVCFILES))]


def stage_definitions(root: Path = Path(".")) -> dict[str, dict]:
    """Every stage kind's definition as written (templates unexpanded), from all the
    pipeline's files, in the order the data flows (by generation: a kind after every kind
    whose outputs it reads; within one, in file order): ``{"validate": {"cmd": ...}, ...}``."""
    import yaml

    found = {kind: stage for path in dvcfiles(root)
             for kind, stage in yaml.safe_load((root / path).read_text())["stages"].items()}

    def paths(stage: dict, *sections: str) -> list[str]:
        entries = [e for section in sections for e in stage.get(section) or []]
        return [e if isinstance(e, str) else next(iter(e)) for e in entries]

    def feeds(out: str, dep: str) -> bool:
        out, dep = out.split("$")[0].rstrip("/"), dep.split("$")[0].rstrip("/")
        return out == dep or out.startswith(dep + "/") or dep.startswith(out + "/")

    graph = nx.DiGraph()
    graph.add_nodes_from(found)
    graph.add_edges_from((a, b) for a in found for b in found if a != b and any(
        feeds(out, dep) for out in paths(found[a], "outs", "metrics", "plots")
        for dep in paths(found[b], "deps")))
    return {kind: found[kind] for generation in nx.topological_generations(graph)
            for kind in sorted(generation, key=list(found).index)}


def lockfiles(root: Path = Path(".")) -> list[Path]:
    """The lock files of the pipeline's files that have one, relative to ``root``:
    ``dvc.lock``, then ``pipelines/<kind>/dvc.lock``."""
    found = [path.with_name(LOCKFILE) for path in dvcfiles(root)]
    return [path for path in found if (root / path).is_file()]


def _address(lockfile: Path, name: str) -> str:
    """How `dvc repro` run in the root addresses stage ``name`` of ``lockfile``'s dvc.yaml."""
    dvcfile = lockfile.with_name("dvc.yaml")
    return name if dvcfile == Path("dvc.yaml") else f"{dvcfile.as_posix()}:{name}"


def stage_plan(root: Path = Path(".")) -> Plan:
    """Stale stages and everything downstream of them (edges of DVC's graph point from a
    stage to the stages it depends on, so downstream = ``nx.ancestors``)."""
    with dvc_internals.open_repo(root) as repo:
        graph = dvc_internals.stage_graph(repo)
        steps = dvc_internals.repro_steps(repo)
        by_name = {stage.addressing: stage for stage in steps}
        todo: set[str] = set()
        for name in dvc_internals.stale_stages(repo):
            todo.add(name)
            todo |= {stage.addressing for stage in nx.ancestors(graph, by_name[name])}
        return Plan({stage.addressing: frozenset(
            up.addressing for up in graph.successors(stage) if up.addressing in todo)
            for stage in steps if stage.addressing in todo})


def lockfile_stages(root: Path = Path(".")) -> list[str]:
    """The stages the lock files hold, as addresses, in file order."""
    import yaml

    return [_address(path, name) for path in lockfiles(root)
            for name in (yaml.safe_load((root / path).read_text()) or {}).get("stages", {})]


def order_lockfile(before: list[str], root: Path = Path(".")) -> bool:
    """Put the stages a run added to each lock file (those not in ``before``) in the order a
    sequential `dvc repro` adds them; entries that were there keep their place, as DVC
    updates them in place. Holds DVC's repository lock. Returns whether a file changed."""
    changed = False
    with dvc_internals.open_repo(root) as repo, dvc_internals.held(repo):
        rank = {stage.addressing: k for k, stage in enumerate(dvc_internals.repro_steps(repo))}
        known = set(before)
        for lockfile in lockfiles(root):
            path = root / lockfile
            data = dvc_internals.read_lockfile_for_update(path)
            stages = data.get("stages", {})
            address = {name: _address(lockfile, name) for name in stages}
            kept = [name for name in stages if address[name] in known]
            added = sorted((name for name in stages if address[name] not in known),
                           key=lambda name: rank.get(address[name], len(rank)))
            if list(stages) == kept + added:
                continue
            ordered = {name: stages[name] for name in kept + added}
            for name in list(stages):
                del stages[name]
            stages.update(ordered)
            write_atomic(path, lambda tmp, data=data: tmp.write_text(
                dvc_internals.dump_lockfile(data)))
            changed = True
    return changed
