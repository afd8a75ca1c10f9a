"""The fast backend: stdlib ``sqlite3`` for the hot single-row statements every command makes.

SQLAlchemy costs ~0.25 s to import, more than a whole ``validate`` of a small template, so the
statements each command needs (trust read, run rows, trust write, manifest, artifact record, lock
holders) run here when the SQLite file already exists, is healthy, is at ``SCHEMA_VERSION`` and in WAL
mode. Anything else (no file yet, older schema, refusal) and this backend declines: the SQLAlchemy
backend owns creation, migration and every refusal message.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
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
    """The stdlib path. One connection is kept for the store's life and reused by one transaction at a
    time: opening a connection per transaction made every close checkpoint the WAL (five syncs each),
    several times before Packer even starts. A transaction that finds it busy (another thread) gets a
    short-lived connection of its own, as before; a forked child never touches its parent's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kept: sqlite3.Connection | None = None
        self._kept_pid = 0
        self._kept_busy = threading.Lock()

    def begin(self, what: str, *, write: bool) -> AbstractContextManager[FastTx] | None:
        if self._kept_busy.acquire(blocking=False):
            try:
                conn = self._kept_connection()
                if conn is not None and self._start(conn, write=write):
                    return self._transaction(conn, what, kept=True)
            except BaseException:
                self._kept_busy.release()
                raise
            self._kept_busy.release()
            if conn is not None:
                return None  # the database is not (or no longer) one this backend serves
        conn = self._connect()
        if conn is None:
            return None
        try:
            started = self._start(conn, write=write)
        except BaseException:
            self._close(conn)
            raise
        if not started:
            self._close(conn)
            return None
        return self._transaction(conn, what, kept=False)

    def close(self) -> None:
        with self._kept_busy:
            conn, self._kept = self._kept, None
            if conn is not None and self._kept_pid == os.getpid():
                self._close(conn)

    def _kept_connection(self) -> sqlite3.Connection | None:
        if self._kept is not None and self._kept_pid != os.getpid():
            self._kept = None  # forked: the parent's connection is not ours to use or close
        if self._kept is None:
            self._kept = self._connect()
            self._kept_pid = os.getpid()
        return self._kept

    def _connect(self) -> sqlite3.Connection | None:
        """A connection to the existing, healthy-looking file (registered with FILES), else None."""
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
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            FILES.release(path)
            return None
        return conn

    def _start(self, conn: sqlite3.Connection, *, write: bool) -> bool:
        """Open a transaction on ``conn``; False (rolled back) unless the database is at SCHEMA_VERSION
        and in WAL mode."""
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if (version is not None and int(version[0]) == SCHEMA_VERSION
                    and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"):
                return True
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Busy past the timeout already: falling back would wait the whole timeout again.
                self._rollback(conn)
                raise translate_sqlite_error(exc, "open", str(self.path)) from exc
        except (sqlite3.Error, ValueError):
            pass
        self._rollback(conn)
        return False

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _close(self, conn: sqlite3.Connection) -> None:
        try:
            conn.close()
        finally:
            FILES.release(self.path)

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, what: str, *, kept: bool) -> Iterator[FastTx]:
        try:
            yield FastTx(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, what, str(self.path)) from exc
        finally:
            if kept:
                self._rollback(conn)  # after an error: the kept connection is left with no transaction
                self._kept_busy.release()
            else:
                self._close(conn)  # without COMMIT this rolls back
