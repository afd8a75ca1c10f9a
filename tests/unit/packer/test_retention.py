"""runs prune / [runs] keep: only command-id folders and logs go; links are never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridcore.errors import ConfigError
from hybridcore.files import UnsafeFolder
from hybridcore.ids import _encode
from hybridcore.packer.retention import command_ids, prune

pytestmark = pytest.mark.unit

DAY = 86_400_000
NOW = 1_800_000_000_000


def _cid(ms: int, n: int = 0) -> str:
    return _encode(ms, 10) + _encode(n, 16)


def _make(state: Path, cid: str, size: int = 10) -> None:
    run = state / "runs" / cid / "web"
    run.mkdir(parents=True)
    (run / "stdout.log").write_bytes(b"x" * size)
    (state / "logs").mkdir(exist_ok=True)
    (state / "logs" / f"{cid}.jsonl").write_bytes(b"y" * size)


def test_older_than_removes_old_runs_and_logs_only(tmp_path: Path) -> None:
    old, new = _cid(NOW - 40 * DAY), _cid(NOW - 1 * DAY)
    _make(tmp_path, old)
    _make(tmp_path, new)
    (tmp_path / "runs" / "not-ours").mkdir()
    (tmp_path / "logs" / "notes.txt").write_text("keep me")
    (tmp_path / "state.db").write_text("db")
    result = prune(tmp_path, older_than_days=30, now_ms=NOW)
    assert result.removed == (old,) and result.kept == 1 and result.freed_bytes == 20
    assert sorted(command_ids(tmp_path)) == [new]
    assert (tmp_path / "runs" / "not-ours").is_dir() and (tmp_path / "logs" / "notes.txt").exists()
    assert (tmp_path / "state.db").read_text() == "db"


def test_keep_newest_and_active_runs_survive(tmp_path: Path) -> None:
    cids = [_cid(NOW - i * DAY) for i in range(5)]  # newest first
    for cid in cids:
        _make(tmp_path, cid)
    result = prune(tmp_path, keep=2, active={cids[4]}, now_ms=NOW)
    assert set(result.removed) == {cids[2], cids[3]}
    assert sorted(command_ids(tmp_path)) == sorted([cids[0], cids[1], cids[4]])


def test_links_are_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("p")
    state = tmp_path / "state"
    cid = _cid(NOW - 40 * DAY)
    (state / "runs").mkdir(parents=True)
    os.symlink(outside, state / "runs" / cid)
    prune(state, older_than_days=1, now_ms=NOW)
    assert not (state / "runs" / cid).exists() and (outside / "precious").read_text() == "p"


def test_symlinked_runs_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / _cid(NOW - 40 * DAY)).mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(outside, state / "runs")
    with pytest.raises(UnsafeFolder, match="symlink"):
        prune(state, older_than_days=0, now_ms=NOW)
    assert len(list(outside.iterdir())) == 1


def test_negative_age_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        prune(tmp_path, older_than_days=-1)
