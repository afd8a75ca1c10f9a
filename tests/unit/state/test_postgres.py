"""PostgreSQL specifics against a real server: what an unreachable server, a wrong password and a
malformed URL turn into (exit 75 vs 2), and the pg_dump helper. (Concurrent writers: test_stress.py.)"""

from __future__ import annotations

import socket

import pytest
from tests.support.postgres import PgServer, pg_dump

from hybridcore.errors import StateError
from hybridcore.state import StateStore, StateUnavailable, is_unavailable

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nothing listens there


def test_unreachable_server_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+psycopg://hybridcore:s3cretpw@127.0.0.1:{_closed_port()}/state"
    store = StateStore(url)
    with pytest.raises(StateUnavailable) as info:
        store.get_trusted("t", "dev")
    err = info.value
    assert is_unavailable(err) and err.unavailable
    assert (err.exit_code, err.category) == (75, "state-unavailable")
    assert isinstance(err, StateError)
    assert "s3cretpw" not in str(err) and "127.0.0.1" in str(err)
    with pytest.raises(StateUnavailable):
        store.build_lock("t", "dev")
    with pytest.raises(StateUnavailable):  # every operation, hot or not
        store.record_run({"id": "r", "kind": "build"})
    monkeypatch.setenv("HYBRIDCORE_STATE_URL", url)
    assert "s3cretpw" not in repr(StateStore.for_root(__import__("pathlib").Path("/nonexistent")))


@pytest.mark.parametrize("case", ["password", "user", "database"])
def test_failed_authentication_or_missing_database_is_bad_input(pg_server: PgServer, case: str) -> None:
    url = {"password": pg_server.url(password="wrong-pw-123"),
           "user": pg_server.url(user="nobody", password="wrong-pw-123"),
           "database": pg_server.url("no_such_db")}[case]
    with pytest.raises(StateError) as info:
        StateStore(url).get_trusted("t", "dev")
    err = info.value
    assert not is_unavailable(err)
    assert err.exit_code == 2
    assert "wrong-pw-123" not in str(err) and pg_server.password not in str(err)
    assert "HYBRIDCORE_STATE_URL" in err.hint


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://hc:pw-in-url@127.0.0.1:notaport/state",
    "postgresql+nosuchdriver://hc:pw-in-url@127.0.0.1:5432/state",
    "mysql://hc:pw-in-url@127.0.0.1/state",
    "not a url",
])
def test_malformed_url_is_bad_input(url: str) -> None:
    with pytest.raises(StateError) as info:
        StateStore(url).list_runs()
    assert not is_unavailable(info.value)
    assert info.value.exit_code == 2
    assert "pw-in-url" not in str(info.value)


def test_pg_dump_shows_rows_but_not_what_was_never_written(pg_url: str) -> None:
    canary = "canary-7f3a9c-never-stored"
    with StateStore(pg_url) as s:
        s.record_run({"id": "01RUN", "kind": "build", "target": "web", "env": "dev",
                      "argv": ["packer", "build", "-var", "password=<redacted>"]})
        s.set_trusted("web", "dev", "b3:digest", {"vars": {"password": "<redacted>"}}, trusted_by="01RUN",
                      reason="validate")
    dump = pg_dump(pg_url)
    assert "CREATE TABLE public.runs" in dump
    assert "password=<redacted>" in dump and "b3:digest" in dump
    assert canary not in dump
