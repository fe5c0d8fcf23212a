"""Atomic writes: a failed write leaves the previous output untouched and no debris."""

import pytest

from activation_study.io import atomic_path, read_json, write_json


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"acc": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"acc": ')  # half-written...
        raise RuntimeError("interrupted")
    assert read_json(target) == {"acc": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "run"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
