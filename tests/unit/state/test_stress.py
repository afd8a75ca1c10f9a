"""Concurrent wrapper processes x threads on one SQLite state: nothing lost, nothing corrupted.

The regression: a header check that opened and closed ``state.db`` with Python's ``open()`` while other
threads of the same process held SQLite locks dropped those POSIX locks, so other processes wrote over
each other ("database disk image is malformed", rows lost). Reduced load here, repeated; the full load
is ``bench/state_stress.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.support.state_stress import Load, expected_counts, run_load

from hybridcore.state import STATE_URL_ENV, StateStore

pytestmark = pytest.mark.unit

LOAD = Load(processes=6, threads=3, ops=12)


@pytest.fixture(autouse=True)
def _no_state_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("runs", "trusted", "manifests", "artifacts")}
    finally:
        con.close()


@pytest.mark.parametrize("existing", [True, False], ids=["existing-state", "fresh-state"])
@pytest.mark.parametrize("round_", range(2))
def test_processes_times_threads_lose_nothing(tmp_path: Path, round_: int, existing: bool) -> None:
    db = tmp_path / "state.db"
    if existing:  # the usual case: every command after the first finds a healthy state file
        with StateStore(f"sqlite:///{db}") as s:
            s.record_run({"id": "seed", "kind": "validate"})
    codes = run_load(f"sqlite:///{db}", LOAD)
    assert codes == [0] * LOAD.processes
    expected = expected_counts(LOAD)
    if existing:
        expected["runs"] += 1
    assert _counts(db) == expected
    con = sqlite3.connect(db)
    try:
        statuses = {s for (s,) in con.execute("SELECT DISTINCT status FROM runs")}
    finally:
        con.close()
    assert statuses == ({"ok", "running"} if existing else {"ok"})
