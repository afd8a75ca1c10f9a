"""The SQLAlchemy Core backend: creates and migrates the schema, serves listings, speaks PostgreSQL.

SQLite concurrency: WAL (readers never block the writer), ``busy_timeout`` so a busy writer is waited
for, and every write transaction starts with ``BEGIN IMMEDIATE`` so two writers never both hold a read
snapshot and then deadlock upgrading it. Creation and migration run under a file lock beside the
database (SQLite) or a transaction-scoped advisory lock (PostgreSQL), and never past what this code
understands: a newer or foreign database is refused and left untouched.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Connection, Engine, TextClause, create_engine, event, inspect, text

from hybridcore.errors import StateError
from hybridcore.state import migrations, schema
from hybridcore.state.common import BUSY_TIMEOUT_S, MOVE_ASIDE, SCHEMA_VERSION, STATE_URL_ENV, display_url
from hybridcore.state.dberrors import translate
from hybridcore.state.fast import translate_sqlite_error
from hybridcore.state.sqlite_files import FILES, create_private_file

PG_SETUP_LOCK_KEY = 0x68637374  # "hcst": any constant, shared by every hybridcore
_READ_ONLY = "hybridcore_read_only"  # execution option: take a deferred BEGIN, not BEGIN IMMEDIATE
CONNECT_TIMEOUT_S = 10
SUPPORTED = ("sqlite", "postgresql")


@lru_cache(maxsize=256)
def _text(sql: str) -> TextClause:
    return text(sql)


class SaTx:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(_text(sql), dict(params or {})).mappings()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return int(self.conn.execute(_text(sql), dict(params or {})).rowcount)


class SqlAlchemyBackend:
    """One engine per store (pooled connections, one per thread at a time), made on first use."""

    def __init__(self, url: str, path: Path | None) -> None:
        self.url = url
        self.path = path
        self.display = display_url(url)
        self._engine: Engine | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._engine is not None

    # --- transactions -------------------------------------------------------------------------------

    @contextmanager
    def begin(self, what: str, *, write: bool) -> Iterator[SaTx]:
        with self.guard(what):
            engine = self.ready()
            if write:
                with engine.begin() as conn:
                    yield SaTx(conn)
            else:
                with engine.connect() as conn:
                    conn.execution_options(**{_READ_ONLY: True})
                    yield SaTx(conn)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Driver and SQLAlchemy errors as StateError naming the database (never the password)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:
            raise translate(exc, what, self.display) from exc
        except sqlite3.Error as exc:  # from a raw DB-API connection (the journal mode switch)
            raise translate_sqlite_error(exc, what, self.display) from exc

    def exists(self) -> bool:
        """Whether the database holds a hybridcore schema, asked without creating or migrating anything."""
        if self._engine is not None:
            return True
        engine = self._create_engine()
        try:
            with self.guard("open"), engine.connect() as conn:
                conn.execution_options(**{_READ_ONLY: True})
                return schema.read_version(conn) is not None
        finally:
            self._dispose(engine)

    def schema_version(self) -> int:
        with self.begin("read", write=False) as tx:
            version = schema.read_version(tx.conn)
        if version is None:
            raise StateError(f"{self.display} lost its schema version", hint=MOVE_ASIDE)
        return version

    # --- engine and schema --------------------------------------------------------------------------

    def ready(self) -> Engine:
        """The engine, created (and the schema created/migrated/checked) on first use."""
        engine = self._engine
        if engine is not None and self._pid == os.getpid():
            return engine
        with self._lock:
            if self._engine is not None and self._pid != os.getpid():
                # Forked: never reuse the parent's connections. Its holder count is not ours to release:
                # the child's FILES started empty, and may count this child's own holders by now.
                self._engine.dispose(close=False)
                self._engine = None
            if self._engine is None:
                engine = self._create_engine()
                try:
                    self._open(engine)
                except BaseException:
                    self._dispose(engine)
                    raise
                self._engine, self._pid = engine, os.getpid()
            return self._engine

    def _create_engine(self, **kw: Any) -> Engine:
        dialect = self.url.partition("://")[0].split("+", 1)[0]
        if self.path is None:
            if dialect not in SUPPORTED:
                raise StateError(f"state database {self.display}: only SQLite and PostgreSQL are supported",
                                 hint=f"set {STATE_URL_ENV} to a sqlite:/// or postgresql+psycopg:// URL")
            try:
                return create_engine(self.url, **self._server_options(), **kw)
            except ModuleNotFoundError as exc:
                raise StateError(f"cannot use state database URL {self.display}: {exc}",
                                 hint="install the driver: pip install 'hybridcore-packer[postgres]'") from exc
            except Exception as exc:  # ArgumentError, ValueError (bad port)...: a malformed URL
                raise StateError(f"cannot use state database URL {self.display}: {exc}",
                                 hint=f"fix {STATE_URL_ENV} (postgresql+psycopg://user:pass@host:port/db)",
                                 ) from exc
        FILES.acquire(self.path)  # the engine holds the file until _dispose
        try:
            create_private_file(self.path)
            engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_S,
                                                           "check_same_thread": False})
        except BaseException:
            FILES.release(self.path)
            raise

        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let our "begin" hook emit BEGIN itself instead of pysqlite's implicit, deferred one.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        def on_begin(conn: Connection) -> None:
            read_only = conn.get_execution_options().get(_READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        return engine

    def _server_options(self) -> dict[str, Any]:
        given = parse_qs(urlsplit(self.url).query)
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in given:  # an unreachable host fails in seconds, not minutes
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            connect_args["application_name"] = "hybridcore"
        return {"pool_pre_ping": True, "connect_args": connect_args}

    def lock_engine(self) -> Engine:
        """PostgreSQL: an engine for the sessions that hold build locks (autocommit; as many at once as
        there are locks held, one kept for reuse); the schema is made ready first."""
        self.ready()
        with self.guard("lock"):
            return self._create_engine(pool_size=1, max_overflow=-1, isolation_level="AUTOCOMMIT")

    def _open(self, engine: Engine) -> None:
        with self.guard("open"):
            with engine.connect() as conn:
                conn.execution_options(**{_READ_ONLY: True})
                version = schema.read_version(conn)
                wal = self.path is None or conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                conn.rollback()
            self._refuse_newer(version)
            if version == SCHEMA_VERSION and wal:
                return
            # Anything else (empty, older, foreign) is judged under the setup lock only: outside it
            # another process may be halfway through creating the schema.
            with self._setup_lock():
                self._setup(engine)

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.display} has schema version {version}, newer than this "
                f"hybridcore understands ({SCHEMA_VERSION}); it was left untouched",
                hint="upgrade hybridcore-packer, or point HYBRIDCORE_STATE_URL at another database",
            )

    def _checked_version(self, conn: Connection) -> int | None:
        """The stored version; StateError for a newer or a foreign database. Under the setup lock."""
        version = schema.read_version(conn)
        if version is None and inspect(conn).get_table_names():
            raise StateError(f"{self.display} holds tables but no hybridcore schema version",
                             hint="point HYBRIDCORE_STATE_URL at a database of its own, or " + MOVE_ASIDE)
        self._refuse_newer(version)
        return version

    def _setup(self, engine: Engine) -> None:
        """Create or migrate, in one transaction; the caller holds the setup lock."""
        if self.path is not None:
            with engine.connect() as conn:  # refuse a foreign file before the WAL switch touches it
                conn.execution_options(**{_READ_ONLY: True})
                self._checked_version(conn)
                conn.rollback()
            # Journal mode cannot change inside a transaction, so bypass the "begin" hook on a raw
            # (autocommit) connection; WAL is then persistent in the file for every connection.
            raw = engine.raw_connection()
            try:
                mode = raw.cursor().execute("PRAGMA journal_mode = WAL").fetchone()
            finally:
                raw.close()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StateError(f"cannot switch {self.path} to WAL mode (got {mode})",
                                 hint="keep the state database on a local file system")
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Server databases have no file to lock: serialise creators/migrators in the transaction.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_SETUP_LOCK_KEY})
            version = self._checked_version(conn)  # again: another process may have done it meanwhile
            if version is None:
                schema.create_latest(conn)
                return
            for step in range(version, SCHEMA_VERSION):
                migrations.MIGRATIONS[step - 1](conn)
            if version != SCHEMA_VERSION:
                schema.set_version(conn, SCHEMA_VERSION)

    @contextmanager
    def _setup_lock(self) -> Iterator[None]:
        if self.path is None:
            yield  # a server database: _setup takes an advisory lock inside its transaction instead
            return
        from filelock import FileLock, Timeout

        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            with FileLock(lock_path, timeout=BUSY_TIMEOUT_S * 4, mode=0o600):
                yield
        except Timeout as exc:
            raise StateError(f"timed out waiting for {lock_path} to create/migrate the state database",
                             hint="another hybridcore is migrating it; retry, or remove a stale lock file",
                             ) from exc

    def _dispose(self, engine: Engine) -> None:
        engine.dispose()
        if self.path is not None:
            FILES.release(self.path)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                if self._pid == os.getpid():
                    self._dispose(self._engine)
                else:
                    self._engine.dispose(close=False)
                self._engine = None
