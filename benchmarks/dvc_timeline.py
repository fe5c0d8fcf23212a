"""Timestamps from inside DVC and the stage processes, for `bench_pipeline.py`.

`bench_pipeline.py` puts a ``sitecustomize.py`` that calls `install` on ``PYTHONPATH``, so
every Python process of a run (DVC, the stage commands, the runner's guards) appends events
to ``$PIPELINE_PROFILE/<pid>.jsonl``. Nothing here changes what a process computes: it wraps
a few functions to note the wall clock on entry and exit.

- every process: ``start`` (from the kernel's process start time, so it includes the
  interpreter's own start) and ``exit``, with the CPU seconds it used;
- DVC: ``stage_begin``/``stage_end`` around `Stage.reproduce` (its status check, command,
  hashing and cache), ``dump_begin``/``dump_end`` around writing ``dvc.lock``,
  ``cmd_start``/``cmd_end`` around the command's shell, ``lock`` with the seconds spent
  waiting for the repository lock;
- a stage command: ``main_start``/``main_end`` around ``common.run``'s ``main`` (its
  imports are done by then).
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.util
import json
import os
import sys
import time

OUT = os.environ.get("PIPELINE_PROFILE")


def _process_start() -> float:
    """This process's start, wall clock, from ``/proc`` (10 ms resolution)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - (uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))


def note(event: str, **fields) -> None:
    with open(os.path.join(OUT, f"{os.getpid()}.jsonl"), "a") as f:
        f.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")


def _timed(begin: str, end: str, name=None):
    """Wrap a function to note ``begin`` and ``end`` around each call."""
    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            stage = name(*args) if name else None
            note(begin, stage=stage)
            try:
                return fn(*args, **kwargs)
            finally:
                note(end, stage=stage)
        return wrapper
    return wrap


def _lock_wait(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            note("lock", seconds=time.time() - start)
    return wrapper


def _patch_dvc() -> None:
    import dvc.lock
    import dvc.stage
    import dvc.stage.run

    stage = dvc.stage.Stage
    stage.reproduce = _timed("stage_begin", "stage_end", lambda s, *a: s.addressing)(
        stage.reproduce)
    stage.dump = _timed("dump_begin", "dump_end", lambda s, *a: s.addressing)(stage.dump)
    dvc.stage.run._run = _timed("cmd_start", "cmd_end")(dvc.stage.run._run)
    for cls in (dvc.lock.Lock, dvc.lock.HardlinkLock):
        cls.lock = _lock_wait(cls.lock)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patch ``activation_study.common.stage_entry.run`` once the stage module imports it."""

    def find_spec(self, name, path, target=None):
        if name != "activation_study.common.stage_entry":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            run = module.run
            module.run = lambda main: run(_timed("main_start", "main_end")(main))
        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if not OUT:
        return
    argv = sys.orig_argv
    if argv[1:2] and argv[1].endswith("/dvc"):
        kind = "dvc"
        _patch_dvc()
    elif "-m" in argv and argv[argv.index("-m") + 1].startswith("stages."):
        kind = "stage"
        sys.meta_path.insert(0, _AfterImport())
    elif "activation_study.pipeline.stage_guard" in argv:
        kind = "guard"
    elif "activation_study.pipeline.parallel" in argv:
        kind = "runner"  # with the Dask scheduler in it
    else:
        kind = "other"  # Dask's workers, DVC's helpers
    note("start", kind=kind, argv=argv[1:], stage=os.environ.get("DVC_STAGE"),
         t_start=_process_start())
    atexit.register(lambda: note("exit", cpu=sum(os.times()[:2])))
