"""The locked environment, installed for real: `make test-install` (CI runs it after `make test`).

Not collected by ``make test`` (its name does not start with ``test_``): it installs a second
environment from the package registry, a minute or two of downloads and unpacking.

- ``.venv``, as `make test` set it up on a fresh clone, is exactly the lock of its Python:
  ``pip freeze`` equals ``requirements/lock-py<version>.txt``, package for package.
- The documented way to a GPU build of torch, ``make setup CONSTRAINTS=my-torch.txt``, still
  works: with a stand-in constraints file that names the lock's own torch, a new environment
  installs the lock without torch, then torch from the file, and comes out equal to the lock.
"""

import subprocess
from pathlib import Path

from activation_study import environment_lock

ROOT = Path(__file__).resolve().parents[2]


def check(python: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "activation_study.environment_lock", "check"],
                          cwd=ROOT, capture_output=True, text=True)


def test_the_environment_make_test_set_up_equals_the_lock():
    proc = check(ROOT / ".venv/bin/python")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "equals requirements/lock-py" in proc.stderr


def test_constraints_with_a_stand_in_torch_installs_the_lock(tmp_path):
    locked = environment_lock.pins(environment_lock.lock_path().read_text())["torch"]
    stand_in = tmp_path / "my-torch.txt"
    stand_in.write_text(f"torch=={locked.split('+')[0]}\n")  # as a user writes it: no +cpu
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "setup", f"VENV={venv}", f"CONSTRAINTS={stand_in}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lock-without-torch.txt" in proc.stdout  # the CONSTRAINTS route ran
    done = check(venv / "bin/python")
    assert done.returncode == 0, done.stdout + done.stderr
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import torch, activation_study; print(torch.__version__); "
                            "print(activation_study.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    version, package = probe.stdout.split()
    assert version == locked and Path(package).is_relative_to(ROOT)
