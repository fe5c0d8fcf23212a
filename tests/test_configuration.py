"""A configuration's spellings: id, DVC stage name and command line translate into each other,
and agree with dvc.yaml."""

from pathlib import Path

import pytest
import yaml

from activation_study.common.configs import (
    FIELDS,
    ID_MATRIX_STAGES,
    config_id,
    grid_configs,
    parse_config_id,
    stage_name,
)
from activation_study.pipeline.dag import stage_definitions

ROOT = Path(__file__).resolve().parents[1]
GRID = {"datasets": ["fashion_mnist", "digits"], "activations": ["leaky_relu", "sigmoid"],
        "depths": [1, 8], "widths": [800], "batchnorm": [False, True]}


def test_id_stage_name_and_parse_round_trip():
    cid = config_id("fashion_mnist", "sigmoid", 8, 800, True)
    assert cid == "fashion_mnist-sigmoid-d8-w800-bntrue"
    assert stage_name("compute_metrics", cid) == "compute_metrics@fashion_mnist-sigmoid-8-800-True"
    assert stage_name("plot_activations", cid) == f"plot_activations@{cid}"
    for config in grid_configs(GRID):
        assert parse_config_id(config["id"]) == config
        values = "-".join(str(config[field]) for field in FIELDS)
        assert stage_name("train", config["id"]) == f"train@{values}"


def test_grid_configs_in_matrix_order():
    ids = [c["id"] for c in grid_configs(GRID)]
    assert len(ids) == 16 == len(set(ids))
    assert ids[:3] == ["fashion_mnist-leaky_relu-d1-w800-bnfalse",
                       "fashion_mnist-leaky_relu-d1-w800-bntrue",
                       "fashion_mnist-leaky_relu-d8-w800-bnfalse"]


@pytest.mark.parametrize("bad", ["odd", "mnist-relu-4-200-False", "mnist-relu-d4-w200-bnFalse",
                                 "mnist-leaky-relu-d4-w200-bntrue"])
def test_parse_rejects_other_spellings(bad):
    with pytest.raises(ValueError, match="not a configuration id"):
        parse_config_id(bad)


def test_spellings_agree_with_dvc_yaml():
    """Grid matrices list the axes in FIELDS order and name outputs by the id; the matrices of
    ID_MATRIX_STAGES are over ids."""
    stages = stage_definitions(ROOT)
    id_spelling = ("${item.dataset}-${item.activation}-d${item.depth}-w${item.width}"
                   "-bn${item.batchnorm}")
    for kind, stage in stages.items():
        matrix = stage.get("matrix", {})
        if kind in ID_MATRIX_STAGES:
            assert list(matrix) == ["config"], kind
        elif len(matrix) > 1:
            assert tuple(matrix) == FIELDS, kind
            assert id_spelling in yaml.safe_dump(stage, width=1000), kind


def test_every_grid_stage_kind_has_a_pipeline_file_and_lock_file_of_its_own():
    """The stages run once per configuration of the grid live in pipelines/KIND/dvc.yaml, so
    that DVC's rewrite of a lock file after each stage reads and writes one kind's entries,
    not the study's; each such file reads the root's params.yaml and runs in the root."""
    grid_kinds = {kind for kind, stage in stage_definitions(ROOT).items()
                  if tuple(stage.get("matrix", {})) == FIELDS}
    assert grid_kinds == {"tune", "train", "extract_activations", "compute_metrics",
                          "classify_layers"}
    for kind in grid_kinds:
        pipeline = yaml.safe_load((ROOT / "pipelines" / kind / "dvc.yaml").read_text())
        assert pipeline["vars"] == ["../../params.yaml"], kind
        assert list(pipeline["stages"]) == [kind]
        assert pipeline["stages"][kind]["wdir"] == "../..", kind
        assert (ROOT / "pipelines" / kind / "dvc.lock").is_file(), kind
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert not grid_kinds & set(root)
