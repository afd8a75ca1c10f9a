"""The fast backend: stdlib ``sqlite3`` for the hot single-row statements every command makes.

SQLAlchemy costs ~0.25 s to import, more than a whole ``validate`` of a small template, so the
statements each command needs (trust read, run rows, trust write, manifest, artifact record, lock
holders) run here when the SQLite file already exists, is healthy, is at ``SCHEMA_VERSION`` and in WAL
mode. Anything else (no file yet, older schema, refusal) and this backend declines: the SQLAlchemy
backend owns creation, migration and every refusal message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hybridcore.errors import StateError
from hybridcore.state.common import BUSY_TIMEOUT_S, MOVE_ASIDE, SCHEMA_VERSION
from hybridcore.state.errors import StateUnavailable
from hybridcore.state.sqlite_files import FILES


class FastTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        cur = self._conn.execute(sql, dict(params or {}))
        if cur.description is None:
            return []
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._conn.execute(sql, dict(params or {})).rowcount


def translate_sqlite_error(exc: sqlite3.Error, what: str, where: str) -> StateError:
    """A ``sqlite3`` error as the StateError the caller should see (shared with the SQLAlchemy backend)."""
    msg = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return StateError(f"state {what} rejected by {where}: {msg}",
                          hint="record the run (record_run) before what refers to it")
    if "locked" in msg or "busy" in msg:
        return StateUnavailable(f"state {what} on {where}: {msg} (busy for more than {BUSY_TIMEOUT_S:.0f}s)")
    if "not a database" in msg or "malformed" in msg:
        return StateError(f"state database {where} is corrupt ({msg})", hint=MOVE_ASIDE)
    return StateError(f"state {what} failed on {where}: {msg}",
                      hint=f"check that the database is writable; {MOVE_ASIDE}")


class FastBackend:
    """One short-lived connection per transaction: nothing to share between threads or after a fork."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def begin(self, what: str, *, write: bool) -> AbstractContextManager[FastTx] | None:
        conn = self._open(write=write)
        return None if conn is None else self._transaction(conn, what)

    def close(self) -> None:
        pass  # connections never outlive their transaction

    def _open(self, *, write: bool) -> sqlite3.Connection | None:
        """A connection inside an open transaction on a healthy database at SCHEMA_VERSION, else None."""
        path = self.path
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return None
            FILES.acquire(path)  # released in _close
        except (StateError, OSError):
            return None
        try:
            # mode=rw: never create the file here; isolation_level=None: we issue BEGIN ourselves.
            conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=rw", uri=True,
                                   timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            FILES.release(path)
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if (version is not None and int(version[0]) == SCHEMA_VERSION
                    and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"):
                return conn
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Busy past the timeout already: falling back would wait the whole timeout again.
                self._close(conn)
                raise translate_sqlite_error(exc, "open", str(path)) from exc
        except (sqlite3.Error, ValueError):
            pass
        self._close(conn)  # closing rolls back the open transaction
        return None

    def _close(self, conn: sqlite3.Connection) -> None:
        try:
            conn.close()
        finally:
            FILES.release(self.path)

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, what: str) -> Iterator[FastTx]:
        try:
            yield FastTx(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, what, str(self.path)) from exc
        finally:
            self._close(conn)  # without COMMIT this rolls back
