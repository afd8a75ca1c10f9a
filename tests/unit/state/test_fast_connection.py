"""The stdlib fast path keeps one connection per store: no WAL checkpoint (and its syncs) per transaction."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hybridcore.state import StateStore
from hybridcore.state.sqlite_files import FILES

pytestmark = pytest.mark.unit


def _store(tmp_path: Path) -> StateStore:
    store = StateStore.for_root(tmp_path)
    store.check_writable()  # creates the file through SQLAlchemy; the fast path serves from now on
    store.close()
    return StateStore.for_root(tmp_path)


def test_transactions_share_one_connection_until_close(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fast = store._fast
    assert fast is not None
    store.record_run({"id": "c1/web", "kind": "build", "target": "web"})
    kept = fast._kept
    assert kept is not None
    store.record_run({"id": "c1/web", "status": "ok"})
    store.running_runs()
    assert fast._kept is kept and not store.uses_sqlalchemy
    assert (tmp_path / ".hybridcore" / "state.db-wal").stat().st_size > 0  # not checkpointed away
    key = os.path.abspath(fast.path)
    assert FILES._holders.get(key) == 1
    store.close()
    assert fast._kept is None and FILES._holders.get(key) is None
    assert StateStore.for_root(tmp_path).get_run("c1/web")["status"] == "ok"  # type: ignore[index]


def test_a_transaction_while_the_kept_connection_is_busy_gets_its_own(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fast = store._fast
    assert fast is not None
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._tx("hold", write=False, hot=True) as tx:
            tx.rows("SELECT 1")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    store.record_run({"id": "c2/web", "kind": "validate", "target": "web"})  # not blocked by the holder
    release.set()
    t.join()
    assert store.get_run("c2/web") is not None
    store.close()


def test_a_failed_transaction_leaves_the_kept_connection_usable(tmp_path: Path) -> None:
    from hybridcore.errors import StateError

    store = _store(tmp_path)
    with pytest.raises(StateError):
        store.record_manifest("no-such-run", "web", {}, "m.json")  # a foreign key refuses it
    store.record_run({"id": "c3/web", "kind": "validate", "target": "web"})
    assert store.get_run("c3/web") is not None
    store.close()
