"""Concurrent wrapper processes x threads on one state: nothing lost, nothing corrupted.

The SQLite regression: a header check that opened and closed ``state.db`` with Python's ``open()`` while
other threads of the same process held SQLite locks dropped those POSIX locks, so other processes wrote
over each other ("database disk image is malformed", rows lost). The same load runs on PostgreSQL, where
many runners share one database. Reduced load here, repeated; the full load is ``bench/state_stress.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.state_stress import Load, count_rows, expected_counts, run_load

from hybridcore.state import StateStore

pytestmark = pytest.mark.unit

LOAD = Load(processes=6, threads=3, ops=12)
PG_LOAD = Load(processes=4, threads=3, ops=10)


@pytest.mark.parametrize("existing", [True, False], ids=["existing-state", "fresh-state"])
@pytest.mark.parametrize("round_", range(2))
def test_processes_times_threads_lose_nothing(tmp_path: Path, round_: int, existing: bool) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    if existing:  # the usual case: every command after the first finds a healthy state file
        with StateStore(url) as s:
            s.record_run({"id": "seed", "kind": "validate"})
    codes = run_load(url, LOAD)
    assert codes == [0] * LOAD.processes
    expected = expected_counts(LOAD)
    if existing:
        expected["runs"] += 1
    counts, statuses, integrity = count_rows(url)
    assert integrity == "ok"
    assert counts == expected
    assert statuses == ({"ok", "running"} if existing else {"ok"})


def test_processes_times_threads_lose_nothing_on_postgres(pg_url: str) -> None:
    """Every process also races to create the schema (the setup advisory lock serialises them)."""
    assert run_load(pg_url, PG_LOAD, timeout=300) == [0] * PG_LOAD.processes
    counts, statuses, _ = count_rows(pg_url)
    assert counts == expected_counts(PG_LOAD)
    assert statuses == {"ok"}
