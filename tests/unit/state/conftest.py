"""Fixtures of the state tests: a store on each backend (SQLite file, real PostgreSQL).

The PostgreSQL fixtures live in tests/support/postgres.py; import them the same way in any conftest
that needs a server (``pg_server``: the session's server, ``pg_url``: a fresh database on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.postgres import pg_server, pg_url  # noqa: F401  (fixtures)

from hybridcore.state import STATE_URL_ENV, StateStore


@pytest.fixture(autouse=True)
def _no_state_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / '.hybridcore' / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(any_url: str) -> Iterator[StateStore]:
    s = StateStore(any_url)
    yield s
    s.close()
