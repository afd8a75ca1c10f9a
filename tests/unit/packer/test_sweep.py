"""The abandoned-run sweep: dead runs become 'abandoned'; only folders the wrapper made are removed."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from hybridcore.packer.sweep import NO_STATE, is_ours, sweep
from hybridcore.state import StateStore
from hybridcore.state.common import this_process


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_dead_run_marked_and_its_temp_folder_removed(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    ours = Path(tempfile.mkdtemp(prefix="hc-a-"))
    foreign = tmp_path / "not-ours"
    foreign.mkdir()
    here = this_process()
    for run_id, tmp in (("C1/a", ours), ("C2/a", foreign)):
        store.record_run({"id": run_id, "kind": "build", "target": "a", "env": "default", "status": "running",
                          **here, "pid": _dead_pid(), "tmp_dir": str(tmp)})
    store.record_run({"id": "C3/a", "kind": "build", "target": "a", "env": "default", "status": "running",
                      **here, "tmp_dir": None})  # this process: alive
    seen: list[str] = []
    marked = sweep(store, lambda name, fields: seen.append(f"{name}:{fields['run_id']}"))
    assert sorted(marked) == ["C1/a", "C2/a"] and sorted(seen) == ["abandoned:C1/a", "abandoned:C2/a"]
    assert not ours.exists() and foreign.exists()  # never a folder the wrapper did not make
    assert {r["id"]: r["status"] for r in store.list_runs()} == {
        "C1/a": "abandoned", "C2/a": "abandoned", "C3/a": "running"}
    assert sweep(store) == []
    store.close()


def test_is_ours_refuses_symlinks_and_other_names(tmp_path: Path) -> None:
    real = Path(tempfile.mkdtemp(prefix="hc-x-"))
    try:
        assert is_ours(real)
        link = real.parent / "hc-y-abcdefgh"
        link.symlink_to(tmp_path)
        try:
            assert not is_ours(link)
        finally:
            link.unlink()
        assert not is_ours(tmp_path)
    finally:
        real.rmdir()


def test_no_state_is_empty() -> None:
    assert NO_STATE.list_runs(limit=3) == [] and NO_STATE.get_run("x") is None


@pytest.mark.parametrize("name", ["a_", "a.", "a..b", "x" * 40, "t/a.pkr.hcl"])
def test_the_temp_folder_of_any_target_name_is_recognised_as_ours(name: str) -> None:
    from hybridcore.packer.attempt import _short_tmpdir
    from hybridcore.packer.config import Target

    folder = _short_tmpdir(Target(name, Path("t")).slug)
    try:
        assert is_ours(folder), folder.name
    finally:
        folder.rmdir()
