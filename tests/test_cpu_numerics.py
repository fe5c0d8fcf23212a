"""Portable CPU numerics (``train.cpu_numerics``): the pins, the machine checks, the
fingerprint, and the proof on one machine that portable mode's bytes do not move with the
environment that native mode follows (docs/reproducibility.md)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from activation_study.numerics import (
    CLEARED_ENV,
    NATIVE,
    PORTABLE,
    PORTABLE_ENV,
    NumericsError,
    cpu_flags,
    pin,
    portable_problem,
    read_mode,
)
from tests.test_pipeline_e2e import read_params, sh, write_params

V3_FLAGS = {"sse2", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "xsave"}
HOST_FLAGS = cpu_flags() or set()


# --- The pins -----------------------------------------------------------------------------

def test_portable_sets_every_pin_and_clears_the_variables_that_would_move_a_library():
    environ = {"MKL_ENABLE_INSTRUCTIONS": "AVX512", "MKL_DEBUG_CPU_TYPE": "5",
               "NPY_DISABLE_CPU_FEATURES": "X86_V3", "MKL_CBWR": "AVX2",
               "ATEN_CPU_CAPABILITY": "avx512", "OPENBLAS_CORETYPE": "SkylakeX", "HOME": "/h"}
    if portable_problem(flags=cpu_flags()):
        pytest.fail(f"the test host cannot run portable mode: {portable_problem()}")
    pin(PORTABLE, environ)
    assert {k: environ[k] for k in PORTABLE_ENV} == PORTABLE_ENV
    assert environ["MKL_CBWR"] == "COMPATIBLE,STRICT" and environ["ATEN_CPU_CAPABILITY"] == "avx2"
    assert not set(CLEARED_ENV) & set(environ)
    assert environ["HOME"] == "/h"


def test_native_leaves_the_environment_as_it_is():
    environ = {"MKL_ENABLE_INSTRUCTIONS": "AVX512", "ATEN_CPU_CAPABILITY": "avx512"}
    pin(NATIVE, environ)
    assert environ == {"MKL_ENABLE_INSTRUCTIONS": "AVX512", "ATEN_CPU_CAPABILITY": "avx512"}


def test_pinning_after_numpy_loaded_is_a_programming_error():
    assert "numpy" in sys.modules  # pytest's plugins load it
    with pytest.raises(RuntimeError, match="before numpy"):
        pin(PORTABLE)


@pytest.mark.parametrize(("machine", "flags", "expected"), [
    ("x86_64", V3_FLAGS, None),
    ("x86_64", V3_FLAGS | {"avx512f"}, None),
    ("AMD64", V3_FLAGS, None),
    ("x86_64", None, None),  # no /proc/cpuinfo: numpy's own import check decides
    ("x86_64", V3_FLAGS - {"avx2", "fma"}, "lacks avx2, fma of x86-64-v3"),
    ("aarch64", V3_FLAGS, "aarch64, not x86-64"),
    ("arm64", None, "arm64, not x86-64"),
])
def test_portable_needs_an_x86_64_v3_cpu(machine, flags, expected):
    problem = portable_problem(machine, flags)
    assert problem is None if expected is None else expected in problem


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx2 fma\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") is None


@pytest.mark.parametrize(("text", "message"), [
    ("train:\n  cpu_numerics: fast\n", "'train.cpu_numerics' = 'fast' is not allowed; expected "
                                       "portable or native"),
    ("train:\n  epochs: 2\n", "'train.cpu_numerics' = None is not allowed"),
    ("- a list\n", "'train.cpu_numerics' = None is not allowed"),
])
def test_a_bad_mode_is_refused_by_name(tmp_path, text, message):
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(NumericsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_mode(tmp_path / "params.yaml")


def test_read_mode(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  cpu_numerics: native\n")
    assert read_mode(tmp_path / "params.yaml") == NATIVE
    with pytest.raises(NumericsError, match="parameter file not found"):
        read_mode(tmp_path / "nosuch.yaml")


def test_a_stage_refuses_a_bad_mode_in_one_line_before_loading_anything(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  cpu_numerics: fast\n")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "stages.split", "--dataset", "digits"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: params.yaml: 'train.cpu_numerics' = 'fast' is not allowed; expected portable "
        "or native"]


def test_the_fingerprint_reads_back_what_the_libraries_chose():
    """In a process pinned portable, the fingerprint names x86-64-v3 paths; the test process
    itself (not pinned) records what this machine picks natively."""
    code = ("from activation_study.numerics import pin; pin('portable'); "
            "import json; from activation_study.numerics import "
            "numerics_fingerprint as f; print(json.dumps(f('portable', 1, 'cpu')))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    block = yaml.safe_load(out)
    assert block["cpu_numerics"] == PORTABLE and block["level"] == "x86-64-v3"
    assert block["kernels"]["torch"] == "AVX2" and block["kernels"]["numpy"] == "X86_V3"
    assert block["kernels"]["mkl"] == "COMPATIBLE,STRICT"
    assert all(b == "openblas Haswell" for b in block["kernels"]["blas"])
    assert block["threads"] == 1 and block["device"] == {"type": "cpu"}
    assert set(block["versions"]) == {"torch", "numpy", "scipy", "scikit-learn", "pandas",
                                      "mkl", "blas"}
    from importlib.metadata import version  # the installed (locked) versions, not a guess
    assert block["versions"]["scikit-learn"] == version("scikit-learn")
    assert block["versions"]["pandas"] == version("pandas")


def test_an_unpinned_process_cannot_claim_portable():
    import torch

    from activation_study.numerics import numerics_fingerprint

    if torch.backends.cpu.get_cpu_capability() == "AVX2" and "avx512f" not in HOST_FLAGS:
        block = numerics_fingerprint(NATIVE, 1, "cpu")
        assert block["kernels"]["torch"] == "AVX2"
        return
    with pytest.raises(NumericsError, match="did not take effect"):
        numerics_fingerprint(PORTABLE, 1, "cpu")


# --- Proof on one machine ------------------------------------------------------------------

CONFIG = "digits-relu-d2-w8-bntrue"
STAGES = (("train", ["--config", CONFIG]),
          ("extract_activations", ["--config", CONFIG]),
          ("compute_metrics", ["--config", CONFIG]))
OUTPUTS = (f"metrics/train/{CONFIG}.json", f"data/train/{CONFIG}/models.pt",
           f"data/train/{CONFIG}/history.csv", f"data/extract_activations/{CONFIG}",
           f"metrics/compute_metrics/{CONFIG}.json", f"data/compute_metrics/{CONFIG}")


def pushed_knobs() -> dict[str, str]:
    """The variables native mode follows, pushed away from x86-64-v3 as far as this host lets
    them go (a value the CPU cannot run would crash native mode, not test anything)."""
    avx512 = "avx512f" in HOST_FLAGS
    return {"MKL_ENABLE_INSTRUCTIONS": "AVX512" if avx512 else "AVX2",
            "MKL_CBWR": "AUTO", "MKL_DEBUG_CPU_TYPE": "5",
            "ATEN_CPU_CAPABILITY": "avx512" if avx512 else "default",
            "ONEDNN_MAX_CPU_ISA": "AVX512_CORE" if avx512 else "SSE41",
            "OPENBLAS_CORETYPE": "SkylakeX" if avx512 else "Sandybridge",
            "NPY_DISABLE_CPU_FEATURES": "X86_V3", "OMP_NUM_THREADS": "2"}


def run_stages(project: Path, env: dict[str, str]) -> dict[str, str]:
    """Train, extract and analyse one configuration in ``env``; SHA-256 of every output."""
    environ = {**os.environ, **env}
    for name, argv in STAGES:
        proc = subprocess.run([sys.executable, "-m", f"stages.{name}", *argv], cwd=project,
                              env=environ, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    digests = {}
    for rel in OUTPUTS:
        path = project / rel
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            digests[str(file.relative_to(project))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


@pytest.mark.e2e
def test_portable_bytes_do_not_move_with_the_native_knobs(project):
    """A tiny training, extraction and analysis twice in portable mode: plainly, and with every
    variable native mode follows pushed elsewhere. The outputs are byte-equal."""
    assert read_params(project)["train"]["cpu_numerics"] == PORTABLE
    plain = run_stages(project, {})
    pushed = run_stages(project, pushed_knobs())
    assert len(plain) > 10
    assert pushed == plain


@pytest.mark.e2e
def test_native_differs_from_portable_on_an_avx512_host(project):
    """Where the host has AVX-512, native mode takes other code paths than portable mode, and
    the same training comes out in other bytes: what portable mode protects against."""
    if "avx512f" not in HOST_FLAGS:
        pytest.skip("this host has no AVX-512: native and portable may take the same paths")
    portable = run_stages(project, {})
    params = read_params(project)
    params["train"]["cpu_numerics"] = NATIVE
    write_params(project, params)
    native = run_stages(project, {})
    assert native[f"data/train/{CONFIG}/models.pt"] != portable[f"data/train/{CONFIG}/models.pt"]
    fingerprint = yaml.safe_load((project / f"metrics/train/{CONFIG}.json").read_text())
    assert fingerprint["numerics"]["cpu_numerics"] == NATIVE
    assert fingerprint["numerics"]["kernels"]["torch"] == "AVX512"


@pytest.mark.e2e
def test_every_computing_stage_carries_its_fingerprint(baseline):
    """Each computing stage's output names the mode, the kernels and the versions behind it;
    the headline metrics that `dvc metrics diff` shows do not."""
    files = [*baseline.glob("metrics/train/*.json"), *baseline.glob("metrics/compute_metrics/*"),
             *baseline.glob("metrics/classify_layers/*.json"),
             *baseline.glob("data/extract_activations/*/meta.json")]
    assert len(files) == 4 * 8
    blocks = {yaml.safe_load(f.read_text())["numerics"]["cpu_numerics"] for f in files}
    assert blocks == {PORTABLE}
    headline = (baseline / "metrics/summarize/headline.json").read_text()
    assert "numerics" not in headline and "AVX2" not in headline
    logs = sh("git", "ls-files", "logs", cwd=baseline).stdout
    assert logs == ""  # the run logs, with the CPU's model name, stay out of git
