"""Stage validate: check every key of params.yaml before any data is read or model trained.

Writes data/validate/params.ok, a constant marker the download stages depend on: DVC thus
runs this check first, and rerunning it never makes anything downstream stale.
"""

from __future__ import annotations

from pathlib import Path

from activation_study.io import write_atomic
from activation_study.params import (
    activation_shape,
    data_params,
    learning_rate,
    load_params,
    validate_analysis,
    validate_classify,
    validate_extract,
    validate_grid,
    validate_plots,
    validate_train,
    validate_tune,
)
from activation_study.study_report.common import validate_report
from stages._cli import run

MARKER = Path("data/validate/params.ok")


def main() -> None:
    params = load_params()
    grid = validate_grid(params)
    data_params(params)
    for activation in grid["activations"]:
        validate_train(params, activation)
        learning_rate(params, activation)
        activation_shape(params, activation)
    validate_tune(params)
    validate_extract(params)
    validate_analysis(params)
    validate_classify(params)
    validate_plots(params, grid)
    validate_report(params)
    write_atomic(MARKER, lambda p: p.write_text("params.yaml passed validation\n"))
    print("params.yaml: ok")


if __name__ == "__main__":
    run(main)
