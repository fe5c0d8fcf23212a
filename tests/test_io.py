"""Atomic writes: a failed write leaves the previous output untouched and no debris."""

import pytest

from activation_study.common.atomic import atomic_path, read_json, write_json


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


def test_temporaries_of_a_killed_write_are_swept_by_the_next_one(tmp_path):
    """A killed process leaves its temporary sibling; the next write of the same path removes
    it, and leaves other paths' temporaries (another stage's) alone."""
    for name in (".run.abcd_123.tmp", ".run.q1w2e3r4.tmp", ".run.json.zzzzzzzz.tmp",
                 ".other.abcdefgh.tmp"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half-written").write_text("x")
    (tmp_path / ".run.notmine.tmp").mkdir()  # not a name atomic_path makes (7 characters)
    write_json(tmp_path / "run", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.abcdefgh.tmp", ".run.json.zzzzzzzz.tmp", ".run.notmine.tmp", "run"]
