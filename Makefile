# `make run`: set up .venv and run the default pipeline; `make test`: set up and run the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lock of $(PYTHON)'s version: every package, pinned with hashes (requirements/; make lock)
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
LOCK := requirements/lock-py$(PYVER).txt
# CONSTRAINTS=my-torch.txt: torch as that file says (a GPU build), everything else from the lock
CONSTRAINTS ?=
# Where the locks' torch==2.13.0+cpu (PyTorch's CPU build) is found: PyTorch's CPU wheels, or
# the folder where this machine kind keeps them
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels/torch-*),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)

.PHONY: fmnist setup lock check-lock run test test-slurm test-real-data test-install lint bench bench-pipeline gpu-check docs clean paper extended activations plan compare reproduce-check

setup: $(STAMP)

# Exactly the lock: --require-hashes refuses any file whose hash the lock does not list, and
# --no-deps installs nothing the lock does not name. The project itself goes in editable,
# built by the locked setuptools (no build isolation: nothing unlocked enters .venv).
$(STAMP): pyproject.toml $(LOCK) $(CONSTRAINTS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	@test -f $(LOCK) || { echo "error: no lock for Python $(PYVER) ($(LOCK)); locked: $(patsubst requirements/lock-py%.txt,%,$(wildcard requirements/lock-py*.txt)). Set PYTHON=python3.11, or write one with make lock"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(CONSTRAINTS),)
	$(BIN)/python -m pip install -q --require-hashes --no-deps --find-links $(TORCH_WHEELS) -r $(LOCK)
else
	$(BIN)/python -m activation_study.environment_lock without torch > $(VENV)/lock-without-torch.txt
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(VENV)/lock-without-torch.txt
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) torch
endif
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Refresh the locks (uv's resolver; docs/development.md: how to upgrade a dependency). Each
# Python is resolved for Linux x86-64 from this machine; torch's CPU build from TORCH_WHEELS.
LOCK_PYTHONS ?= 3.11 3.12
lock: setup
	for v in $(LOCK_PYTHONS); do \
		$(BIN)/uv pip compile pyproject.toml requirements/install.in --extra dev -c constraints.txt \
			--python-version $$v --python-platform x86_64-manylinux_2_28 --generate-hashes \
			--find-links $(TORCH_WHEELS) --quiet -o requirements/lock-py$$v.txt || exit 1; \
	done

# Does .venv hold exactly the lock? (pip freeze against it; lists what differs)
check-lock: setup
	$(BIN)/python -m activation_study.environment_lock check $(if $(CONSTRAINTS),--ignore torch)

# JOBS=N: N stages at a time on local Dask workers, spread over the GPUs when there are any
# (python -m activation_study.pipeline.parallel; docs/parallel.md). Without JOBS: `dvc repro`.
JOBS ?=
REPRO = $(if $(JOBS),$(BIN)/python -m activation_study.pipeline.parallel --workers $(JOBS),$(BIN)/dvc repro)

# recover: repairs DVC's own files if a killed run left one truncated (a no-op otherwise)
run: setup
	$(BIN)/python -m activation_study.pipeline.recover
	PATH="$(CURDIR)/$(BIN):$$PATH" $(REPRO)

# -n auto: one pytest-xdist worker per core (the end-to-end tests are DVC runs of one core each);
# worksteal: an idle worker takes queued tests, so the few long end-to-end tests do not pile up
test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -n auto --dist worksteal --durations=12

# The locked install, for real (tests/install/install_check.py): .venv equals the lock, and
# make setup CONSTRAINTS=<a stand-in naming the lock's torch> builds a second environment that
# equals it too (a minute or two: it installs every package again, in a temporary folder).
test-install: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:randomly tests/install/install_check.py

# A real one-node Slurm cluster on this host (installs slurm-wlm and munge from Debian's
# packages when missing: needs root), the tiny study run through it with dask-jobqueue, and
# the result compared with a sequential `dvc repro`. The daemons are stopped at the end.
test-slurm: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" tests/slurm/cluster.sh $(BIN)/python -m pytest -q -rP -p no:randomly tests/slurm/slurm_check.py

# The prepared GPU check (benchmarks/gpu_check.py): speed, agreement and the paper grid's
# projected time; writes $(GPU_CHECK)/gpu_check.{json,md}. --smoke runs it on CPU in seconds.
GPU_CHECK ?= benchmarks/gpu_check
gpu-check: setup
	mkdir -p $(GPU_CHECK)
	$(BIN)/python -m activation_study.pipeline.plan presets/paper.yaml --json $(GPU_CHECK)/paper_plan.json
	PYTHONPATH=. $(BIN)/python benchmarks/gpu_check.py $(GPU_CHECK) --plan $(GPU_CHECK)/paper_plan.json

# The download and split stages on the real Fashion-MNIST files of Debian's package
# dataset-fashion-mnist (installed when missing: needs root), checksums and class balance.
test-real-data: setup
	test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:randomly tests/real_data/fashion_mnist_check.py

lint: setup
	$(BIN)/ruff check .

bench: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_training.py
	PYTHONPATH=. $(BIN)/python benchmarks/bench_kde.py
	PYTHONPATH=. $(BIN)/python benchmarks/bench_cores.py

# Where a pipeline run's time goes, stage kind by stage kind: the default study from fresh
# clones, plain `dvc repro` and then 2 workers (benchmarks/README.md; about 15 minutes here)
bench-pipeline: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_pipeline.py

# The manual (docs/, mkdocs.yml) into site/: the generated pages checked against the schema and
# dvc.yaml (python docs/generate.py rewrites them), then a strict build (a warning fails it).
docs: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python docs/generate.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site

# Headline results of two revisions (git revisions, branches or DVC experiment names) with seed
# uncertainty: `make compare A=main B=my-branch` (defaults: HEAD against the workspace).
A ?= HEAD
B ?=
compare: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m activation_study.results.compare $(A) $(B)

# Does this machine reproduce the committed results? Reruns stages in a fresh clone of HEAD with
# an empty DVC cache and reports the tracked files that are not byte-equal (exit 1), with both
# sides' numeric fingerprints and the metric differences; `make reproduce-check
# STAGES=train@mnist5k-relu-2-200-False` checks one stage and what it needs (default: the
# whole study). python -m activation_study.pipeline.reproduce_check --help for --rev, --keep.
STAGES ?=
reproduce-check: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m activation_study.pipeline.reproduce_check $(STAGES)

# Dry run: stages and training compute of a parameter file (`make plan PARAMS=presets/paper.yaml`).
PARAMS ?= params.yaml
plan: setup
	$(BIN)/python -m activation_study.pipeline.plan $(PARAMS)

# The paper's full grid (presets/paper.yaml), the grid with every activation
# (presets/extended.yaml), and every activation on the default data (presets/activations.yaml):
# run them on a branch, they replace params.yaml. The plan is printed first; the run starts
# after 10 seconds (Ctrl-C to stop).
paper extended activations fmnist: setup
	$(BIN)/python -m activation_study.pipeline.plan presets/$@.yaml
	sleep 10
	cp presets/$@.yaml params.yaml
	$(BIN)/python -m activation_study.pipeline.recover
	PATH="$(CURDIR)/$(BIN):$$PATH" $(REPRO)
