"""``train.cpu_numerics``: pin the instruction set of every library that dispatches by CPU, and
record what computed a stage's numbers (its numeric fingerprint).

torch's own kernels (ATen), MKL's matrix products, oneDNN, OpenBLAS (numpy's and scipy's) and
numpy's SIMD loops each pick a code path by the CPU they run on, and each path rounds its sums
differently. Twenty epochs of training turn those last bits into another network, so a result
made on an AVX-512 machine differs from one made on an AVX2 machine. ``portable`` fixes every
library to the x86-64-v3 level (AVX2 and FMA: Intel from Haswell, 2013, AMD from Zen, 2017)
and MKL to its vendor-neutral ``COMPATIBLE`` branch; ``native`` leaves the environment as it
is, for speed (docs/reproducibility.md).

The libraries read these variables once, when they load, so a stage pins itself before it
imports numpy or torch: this module imports only the standard library and PyYAML at its top,
and the fingerprint's functions import numpy and torch when called, after the pins.

The fingerprint (``numerics_fingerprint``) names what decides the bits and nothing else: the
mode, the code path each library took (read back from the library, so a pin that did not take
effect shows), the thread count, the versions of the numeric libraries (torch, numpy, scipy,
scikit-learn, pandas: those the lock pins, requirements/) and of MKL and BLAS, and, on a GPU,
the GPU model and its CUDA and cuDNN versions. In portable mode every CPU the mode covers gives
the same block; the CPU's model name goes to the run logs instead (``machine_details``).
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import torch

PARAM = "train.cpu_numerics"
PORTABLE, NATIVE = "portable", "native"
MODES = (PORTABLE, NATIVE)
LEVEL = "x86-64-v3"

# What portable mode sets (docs/reproducibility.md, "What portable mode pins"). MKL's branches
# other than AUTO and COMPATIBLE exist on Intel CPUs only (on AMD, MKL_CBWR=AVX2 silently runs
# AUTO): COMPATIBLE is the one branch that gives the same bytes on any x86-64 CPU. STRICT makes
# them independent of the arrays' memory alignment too.
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",           # torch's own kernels
    "MKL_CBWR": "COMPATIBLE,STRICT",         # MKL (torch's matrix products)
    "ONEDNN_MAX_CPU_ISA": "AVX2",            # oneDNN (torch's mkldnn kernels)
    "DNNL_MAX_CPU_ISA": "AVX2",              # the same, its older name
    "OPENBLAS_CORETYPE": "Haswell",          # OpenBLAS of numpy and scipy (AVX2 kernels)
    "NPY_ENABLE_CPU_FEATURES": "X86_V3",     # numpy's SIMD loops: x86-64-v3, nothing above
}
# Variables that would move a library off the pinned path; portable mode removes them.
CLEARED_ENV = ("MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE", "NPY_DISABLE_CPU_FEATURES")
# The CPU flags (Linux /proc/cpuinfo names) of x86-64-v3; "abm" is LZCNT.
LEVEL_FLAGS = ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "xsave")
NUMERIC_MODULES = ("numpy", "scipy", "torch")
# The other numeric libraries of the lock (requirements/): the split's shuffles, the classifier
# analyses' fits and the tables. The fingerprint records their installed versions too.
UNLOADED_NUMERIC = ("scikit-learn", "pandas")


class NumericsError(ValueError):
    """``train.cpu_numerics`` cannot be honoured here (named in the message)."""


def read_mode(params_file: str | Path = "params.yaml") -> str:
    """``train.cpu_numerics`` of a parameter file, checked."""
    path = Path(params_file)
    if not path.is_file():
        raise NumericsError(f"{path}: parameter file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    mode = params.get("train", {}).get("cpu_numerics") if isinstance(params, dict) else None
    if mode not in MODES:
        raise NumericsError(f"{path}: '{PARAM}' = {mode!r} is not allowed; expected "
                            f"{' or '.join(MODES)}")
    return mode


def cpuinfo(path: str | Path = "/proc/cpuinfo") -> dict[str, str] | None:
    """The first processor's fields of Linux's /proc/cpuinfo; None where it is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    fields: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags as Linux names them; None where /proc/cpuinfo is absent."""
    fields = cpuinfo(path)
    return None if fields is None else set(fields.get("flags", "").split())


def portable_problem(machine: str | None = None, flags: set[str] | None = None) -> str | None:
    """Why portable mode cannot run on this machine (None: it can)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return (f"this machine is {machine}, not x86-64: the portable kernels are x86-64-v3 "
                "code, and no other architecture computes the same bits")
    if flags is None:  # no /proc/cpuinfo (macOS): numpy refuses X86_V3 at import if it lacks it
        return None
    missing = [flag for flag in LEVEL_FLAGS if flag not in flags]
    if missing:
        return (f"this CPU lacks {', '.join(missing)} of {LEVEL} (AVX2 and FMA: Intel "
                "Haswell or AMD Zen and later)")
    return None


def check_machine(mode: str) -> None:
    """Refuse ``portable`` on a machine that cannot run its kernels (NumericsError)."""
    if mode != PORTABLE:
        return
    problem = portable_problem(flags=cpu_flags())
    if problem:
        raise NumericsError(f"params.yaml: '{PARAM}' = {PORTABLE!r} cannot run here: {problem}; "
                            f"expected {NATIVE!r} on this machine (its results are then its "
                            "own: docs/reproducibility.md)")


def pin(mode: str, environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``environ`` for ``mode``; must run before numpy, scipy or torch is imported."""
    loaded = [name for name in NUMERIC_MODULES if name in sys.modules]
    if environ is os.environ and loaded:
        raise RuntimeError(f"{PARAM} must be applied before {', '.join(loaded)} is imported")
    check_machine(mode)
    if mode == PORTABLE:
        for name in CLEARED_ENV:
            environ.pop(name, None)
        environ.update(PORTABLE_ENV)


def pin_stage() -> None:
    """Apply params.yaml's ``train.cpu_numerics`` to this stage process, before its imports;
    a parameter that cannot be honoured ends it with a one-line error (exit status 2)."""
    try:
        pin(read_mode())
    except NumericsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def machine_details() -> dict[str, str | bool]:
    """What the run logs record of the machine (never a tracked output: it differs between
    machines whose portable results are equal)."""
    fields = cpuinfo() or {}
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name") or platform.processor(),
            "vendor": fields.get("vendor_id", ""),
            "machine": platform.machine(), "avx2": "avx2" in flags,
            "avx512": "avx512f" in flags, "cores": os.cpu_count() or 0,
            "python": platform.python_version()}


# --- The fingerprint: called after the pins, so numpy and torch are imported in the functions

def mkl_version() -> str | None:
    """The MKL that torch was built with, from its build configuration."""
    import torch

    match = re.search(r"Math Kernel Library Version ([0-9.]+)", torch.__config__.show())
    return match.group(1) if match else None


def numpy_dispatch() -> str:
    """The highest of numpy's SIMD targets that any of its loops runs here."""
    import numpy as np
    from numpy._core._multiarray_umath import __cpu_dispatch__

    used = {target for func in np.lib.introspect.opt_func_info().values()
            for target in (t["current"] for t in func.values())}
    return next((t for t in reversed(__cpu_dispatch__) if t in used), "baseline")


def blas_libraries() -> list[dict[str, str]]:
    """The BLAS libraries loaded in the process besides torch's MKL (numpy's and scipy's
    OpenBLAS), with the kernel family each runs."""
    from threadpoolctl import threadpool_info

    return sorted(({"library": info.get("internal_api", ""), "version": info.get("version") or "",
                    "kernels": info.get("architecture") or ""}
                   for info in threadpool_info() if info.get("user_api") == "blas"),
                  key=lambda row: (row["library"], row["version"], row["kernels"]))


def device_details(device: torch.device | str) -> dict[str, Any]:
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return {"type": device.type}
    major, minor = torch.cuda.get_device_capability(device)
    return {"type": "cuda", "gpu": torch.cuda.get_device_name(device),
            "compute_capability": f"{major}.{minor}", "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()}


def numerics_fingerprint(mode: str, threads: int, device: torch.device | str) -> dict[str, Any]:
    """What determines this process's numbers; checks that portable mode's pins took. Call it
    when the stage writes its outputs: the BLAS libraries listed are those loaded by then."""
    import numpy as np
    import scipy
    import torch

    torch_isa, numpy_isa = torch.backends.cpu.get_cpu_capability(), numpy_dispatch()
    blas = blas_libraries()
    if mode == PORTABLE:
        wrong = [f"torch {torch_isa}"] if torch_isa != "AVX2" else []
        wrong += [f"{b['library']} {b['kernels']}" for b in blas
                  if b["library"] == "openblas" and b["kernels"].lower() != "haswell"]
        wrong += [f"numpy {numpy_isa}"] if numpy_isa != "X86_V3" else []
        if wrong:
            raise NumericsError(f"portable CPU numerics did not take effect ({', '.join(wrong)}"
                                f"); was numpy or torch imported before the pins?")
        mkl = PORTABLE_ENV["MKL_CBWR"]
    else:
        mkl = os.environ.get("MKL_CBWR") or f"by CPU ({machine_details()['vendor']})"
    return {
        "cpu_numerics": mode,
        "level": LEVEL if mode == PORTABLE else "native",
        "kernels": {"torch": torch_isa, "mkl": mkl, "numpy": numpy_isa,
                    "blas": [f"{b['library']} {b['kernels']}".strip() for b in blas]},
        "threads": threads,
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, **installed_versions(UNLOADED_NUMERIC),
                     "mkl": mkl_version(),
                     "blas": sorted({f"{b['library']} {b['version']}" for b in blas})},
        "device": device_details(device),
    }


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """The installed versions of distributions, read without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def stage_fingerprint(params: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The fingerprint of a stage that reads params.yaml's ``train.cpu_numerics`` and
    ``train.cpu_threads`` (both listed in its dvc.yaml ``params``)."""
    train = params["train"]
    return numerics_fingerprint(train["cpu_numerics"], train["cpu_threads"], device)
