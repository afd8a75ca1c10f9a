"""The state store: command runs, trusted input digests, manifests and artifact records.

One class over SQLAlchemy Core so a PostgreSQL URL works as well as the default SQLite file. SQLAlchemy
costs ~0.3 s to import, so it is imported only when the engine is first needed: the hot single-row
statements every command makes (``get_trusted``, ``record_run``, ``set_trusted``, ``record_manifest``,
``record_artifact``) go through the stdlib ``sqlite3`` driver on an existing SQLite file already at the
current schema in WAL mode, with the same SQL semantics, and fall back to the full path whenever
anything is unusual (creation, migration, refusal, other databases).

SQLite concurrency: WAL (readers never block the writer), ``busy_timeout`` so a busy writer is waited for,
and every write transaction starts with ``BEGIN IMMEDIATE`` so two writers never both hold a read snapshot
and then deadlock upgrading it (the case SQLite answers with "database is locked" at once, whatever the
timeout). The state file is never deleted, rewritten or migrated past what this code understands.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import StateError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["BUSY_TIMEOUT_S", "SCHEMA_VERSION", "STATE_URL_ENV", "StateStore"]

STATE_URL_ENV = "HYBRIDCORE_STATE_URL"
# Duplicated from schema.py (asserted equal there at import) so the fast path needs no SQLAlchemy.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MOVE_ASIDE = "move it aside (it is never deleted for you) and run 'hybridcore-packer validate' to re-trust"
_RUN_COLUMNS = (
    "id", "kind", "target", "env", "argv", "exit_code", "status", "category", "retryable", "hint",
    "started_at", "finished_at", "run_dir", "attempt",
)
_PG_SETUP_LOCK_KEY = 0x68637374  # "hcst": any constant, shared by every hybridcore
_READ_ONLY = "hybridcore_read_only"  # execution option: take a deferred BEGIN, not BEGIN IMMEDIATE


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory SQLite)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return None
    path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return None if path in ("", ":memory:") or path.startswith("file:") else Path(path)


def _check_sqlite_header(path: Path) -> None:
    """Refuse a file that is plainly not (or no longer) a whole SQLite database. Only ever called
    through :func:`_sqlite_holder`, never while this process holds a connection to the file."""
    try:
        size = path.stat().st_size
        if size == 0:
            return  # a fresh file we (or a racing process) just created
        with path.open("rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"cannot read state database {path}: {exc}",
                         hint=f"check permissions of {path}") from exc
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StateError(f"state database {path} is not a SQLite database (corrupt or foreign file)",
                         hint=_MOVE_ASIDE)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The in-header page count is valid only when its "version-valid-for" matches the change counter.
    # Skip while a -wal file exists: a concurrent checkpoint may have written the header before the tail.
    if (header[92:96] == header[24:28] and pages * page_size > size
            and not path.with_name(path.name + "-wal").exists()):
        raise StateError(f"state database {path} is truncated ({size} bytes, header says "
                         f"{pages * page_size})", hint=_MOVE_ASIDE)


class _SqliteFiles:
    """Who in this process holds the SQLite file open, so nothing outside SQLite ever touches it then.

    Closing *any* descriptor of a file drops every POSIX lock the process holds on it (SQLite's "How To
    Corrupt An SQLite Database File", 2.2): a plain ``open()``/``close()`` of ``state.db`` while another
    thread holds a SQLite lock lets other processes write over each other. So the header check runs only
    while no connection or engine of this process has the file open, under one process-wide lock, and
    every connection (fast path) and engine (full path) registers as a holder before it opens the file.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, int] = {}

    def acquire(self, path: Path) -> None:
        """Check the header if nobody here holds the file, then count one more holder."""
        key = os.path.abspath(path)
        with self._lock:
            if not self._holders.get(key):
                _check_sqlite_header(path)
            self._holders[key] = self._holders.get(key, 0) + 1

    def release(self, path: Path) -> None:
        key = os.path.abspath(path)
        with self._lock:
            left = self._holders.get(key, 0) - 1
            if left > 0:
                self._holders[key] = left
            else:
                self._holders.pop(key, None)

    def reset_after_fork(self) -> None:
        # A forked child inherits the counts but none of the parent's locks or threads.
        self._lock = threading.Lock()
        self._holders = {}


_FILES = _SqliteFiles()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_FILES.reset_after_fork)


def _create_private_file(path: Path) -> None:
    """Create the SQLite file 0600 (and its folder 0700) before SQLite does, so no umask can widen it."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)  # SQLite treats an empty file as an empty database; -wal/-shm inherit this mode


class StateStore:
    """State of one project (or a shared database): runs, trust, manifests, artifacts.

    Thread-safe (one pooled connection per thread) and safe across processes. Every method raises
    ``StateError`` when the database is corrupt, newer than this code, or unreachable.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._path = sqlite_path(url)
        self._engine: Engine | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @classmethod
    def for_root(cls, root: Path) -> StateStore:
        """``$HYBRIDCORE_STATE_URL`` if set, else ``<root>/.hybridcore/state.db``."""
        url = os.environ.get(STATE_URL_ENV, "").strip()
        if url:
            return cls(url)
        folder = Path(root) / ".hybridcore"
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        return cls(f"sqlite:///{(folder / 'state.db').absolute()}")

    def __repr__(self) -> str:
        return f"StateStore({self._display_url()!r})"

    # --- engine and schema --------------------------------------------------------------------------

    def _display_url(self) -> str:
        if self._path is not None:
            return str(self._path)
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # a malformed URL: show only the scheme, it may hold a password
            return self.url.partition("://")[0] + "://..."

    def _ready(self) -> Engine:
        """The engine, created (and the schema created/migrated/checked) on first use."""
        engine = self._engine
        if engine is not None and self._pid == os.getpid():
            return engine
        with self._lock:
            if self._engine is not None and self._pid != os.getpid():
                self._engine.dispose(close=False)  # forked: never reuse the parent's connections
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

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event

        if self._path is None:
            try:
                return create_engine(self.url, pool_pre_ping=True)
            except ModuleNotFoundError as exc:
                raise StateError(f"cannot use state database URL {self._display_url()}: {exc}",
                                 hint=f"install the database driver ({exc.name}) next to hybridcore") from exc
            except Exception as exc:
                raise StateError(f"cannot use state database URL {self._display_url()}: {exc}",
                                 hint=f"fix {STATE_URL_ENV} (a SQLAlchemy URL)") from exc
        _FILES.acquire(self._path)  # the engine holds the file until _dispose
        try:
            _create_private_file(self._path)
            engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_S,
                                                           "check_same_thread": False})
        except BaseException:
            _FILES.release(self._path)
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

    def _open(self, engine: Engine) -> None:
        from hybridcore.state import schema

        with self._guard("open"):
            with engine.connect() as conn:
                conn.execution_options(**{_READ_ONLY: True})
                version = self._checked_version(conn)
                wal = self._path is None or conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                conn.rollback()
            if version == schema.SCHEMA_VERSION and wal:
                return
            with self._setup_lock():
                self._setup(engine)

    def _checked_version(self, conn: Connection) -> int | None:
        from sqlalchemy import inspect

        from hybridcore.state import schema

        version = schema.read_version(conn)
        if version is None and inspect(conn).get_table_names():
            raise StateError(f"{self._display_url()} holds tables but no hybridcore schema version",
                             hint="point HYBRIDCORE_STATE_URL at a database of its own, or " + _MOVE_ASIDE)
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StateError(
                f"state database {self._display_url()} has schema version {version}, newer than this "
                f"hybridcore understands ({schema.SCHEMA_VERSION}); it was left untouched",
                hint="upgrade hybridcore-packer, or point HYBRIDCORE_STATE_URL at another database",
            )
        return version

    def _setup(self, engine: Engine) -> None:
        """Create or migrate, in one transaction; the caller holds the setup lock."""
        from hybridcore.state import schema

        if self._path is not None:
            # Journal mode cannot change inside a transaction, so bypass the "begin" hook on a raw
            # (autocommit) connection; WAL is then persistent in the file for every connection.
            raw = engine.raw_connection()
            try:
                mode = raw.cursor().execute("PRAGMA journal_mode = WAL").fetchone()
            finally:
                raw.close()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StateError(f"cannot switch {self._path} to WAL mode (got {mode})",
                                 hint="keep the state database on a local file system")
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Server databases have no file to lock: serialise creators/migrators in the transaction.
                from sqlalchemy import text

                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SETUP_LOCK_KEY})
            version = self._checked_version(conn)  # again: another process may have done it meanwhile
            if version is None:
                schema.create_latest(conn)
                return
            for step in range(version, schema.SCHEMA_VERSION):
                schema.MIGRATIONS[step - 1](conn)
            if version != schema.SCHEMA_VERSION:
                schema.set_version(conn, schema.SCHEMA_VERSION)

    @contextmanager
    def _setup_lock(self) -> Iterator[None]:
        if self._path is None:
            yield  # a server database: _setup takes an advisory lock inside its transaction instead
            return
        from filelock import FileLock, Timeout

        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            with FileLock(lock_path, timeout=BUSY_TIMEOUT_S * 4, mode=0o600):
                yield
        except Timeout as exc:
            raise StateError(f"timed out waiting for {lock_path} to create/migrate the state database",
                             hint="another hybridcore is migrating it; retry, or remove a stale lock file",
                             ) from exc

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn driver errors into StateError naming the database (never the password)."""
        from sqlalchemy.exc import DatabaseError, IntegrityError, SQLAlchemyError

        try:
            yield
        except StateError:
            raise
        except IntegrityError as exc:
            raise StateError(f"state {what} rejected by {self._display_url()}: {exc.orig}",
                             hint="record the run (record_run) before what refers to it") from exc
        except DatabaseError as exc:
            msg = str(exc.orig)
            if self._path is not None and ("not a database" in msg or "malformed" in msg):
                raise StateError(f"state database {self._path} is corrupt ({msg})", hint=_MOVE_ASIDE) from exc
            raise StateError(f"state {what} failed on {self._display_url()}: {msg}",
                             hint=f"check that the database is reachable and writable; {_MOVE_ASIDE}",
                             ) from exc
        except SQLAlchemyError as exc:
            raise StateError(f"state {what} failed on {self._display_url()}: {exc}") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        engine = self._ready()
        with self._guard(what), engine.connect() as conn:
            conn.execution_options(**{_READ_ONLY: True})
            yield conn

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        engine = self._ready()
        with self._guard(what), engine.begin() as conn:
            yield conn

    def _upsert(self, conn: Connection, table: Any, values: dict[str, Any], keys: tuple[str, ...],
                update_cols: list[str] | None = None) -> None:
        """INSERT ... ON CONFLICT DO UPDATE on SQLite/PostgreSQL; update-then-insert elsewhere."""
        cols = [c for c in (update_cols if update_cols is not None else values) if c not in keys]
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            # Both dialects spell the upsert the same way.
            stmt: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table).values(**values)
            if cols:
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}))
            else:
                conn.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))
            return
        where = [table.c[k] == values[k] for k in keys]
        if not cols or conn.execute(table.update().where(*where).values(
                **{c: values[c] for c in cols})).rowcount == 0:
            conn.execute(table.insert().values(**values))

    def _by_prefix(self, conn: Connection, column: Any, key: str, what: str) -> Any:
        """The row whose key is ``key``, else the one row whose key starts with it."""
        from sqlalchemy import select

        table = column.table
        row = conn.execute(select(table).where(column == key)).first()
        if row is not None or not key:
            return row
        rows = conn.execute(select(table).where(column.startswith(key, autoescape=True))
                            .order_by(column).limit(2)).all()
        if len(rows) > 1:
            raise StateError(f"{what} prefix {key!r} is ambiguous (matches {rows[0][0]}, {rows[1][0]}, ...)",
                             hint=f"give more characters of the {what} id")
        return rows[0] if rows else None

    def schema_version(self) -> int:
        """The schema version of the (opened, hence up-to-date) database."""
        from hybridcore.state import schema

        with self._read("read") as conn:
            version = schema.read_version(conn)
        if version is None:
            raise StateError(f"{self._display_url()} lost its schema version", hint=_MOVE_ASIDE)
        return version

    def _dispose(self, engine: Engine) -> None:
        engine.dispose()
        if self._path is not None:
            _FILES.release(self._path)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._dispose(self._engine)
                self._engine = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ---------------------------------------------------------------------------------------

    def record_run(self, run: Mapping[str, Any]) -> None:
        """Insert or update the run ``run["id"]``; only the columns given are written on update.

        Keys outside the ``runs`` columns are ignored. A new run needs ``kind``; ``status`` defaults
        to ``"running"`` and ``started_at`` to now. ``argv`` is stored as JSON (already redacted).
        """
        if not run.get("id"):
            raise ValueError("record_run: the run needs an 'id' (its command_id)")
        values = {k: run[k] for k in _RUN_COLUMNS if k in run}
        if "argv" in values and values["argv"] is not None:
            values["argv"] = _dumps(list(values["argv"]))
        if "retryable" in values and values["retryable"] is not None:
            values["retryable"] = bool(values["retryable"])
        given = list(values)
        with self._fast(write=True) as fast:
            if fast is not None:
                exists = fast.execute("SELECT 1 FROM runs WHERE id = ?", (values["id"],)).fetchone()
                if exists:
                    changes = [k for k in given if k != "id"]
                    if changes:
                        fast.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",  # noqa: S608
                                     [values[k] for k in changes] + [values["id"]])
                    return
                if not values.get("kind"):
                    raise ValueError(f"record_run: run {values['id']} is new and needs a 'kind'")
                values.setdefault("status", "running")
                values.setdefault("started_at", _now())
                self._fast_upsert(fast, "runs", values, ("id",))
                return
        from hybridcore.state import schema

        with self._write("record_run") as conn:
            exists = conn.execute(schema.runs.select().with_only_columns(schema.runs.c.id)
                                  .where(schema.runs.c.id == values["id"])).first() is not None
            if exists:
                if len(given) > 1:
                    conn.execute(schema.runs.update().where(schema.runs.c.id == values["id"])
                                 .values(**{k: values[k] for k in given if k != "id"}))
                return
            if not values.get("kind"):
                raise ValueError(f"record_run: run {values['id']} is new and needs a 'kind'")
            values.setdefault("status", "running")
            values.setdefault("started_at", _now())
            # Under BEGIN IMMEDIATE the check above cannot race on SQLite; elsewhere the upsert covers it.
            self._upsert(conn, schema.runs, values, ("id",), update_cols=given)

    @staticmethod
    def _run_dict(row: Any) -> dict[str, Any]:
        run = dict(row._mapping)
        run["argv"] = json.loads(run["argv"]) if run["argv"] is not None else None
        if run["retryable"] is not None:
            run["retryable"] = bool(run["retryable"])
        return run

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with this id, or the only one whose id starts with it (StateError if several)."""
        from hybridcore.state import schema

        with self._read("get_run") as conn:
            row = self._by_prefix(conn, schema.runs.c.id, run_id, "run")
        return None if row is None else self._run_dict(row)

    def list_runs(self, *, limit: int = 20, target: str | None = None,
                  kind: str | None = None) -> list[dict[str, Any]]:
        """Newest first (by ``started_at``, then id)."""
        from sqlalchemy import select

        from hybridcore.state import schema

        t = schema.runs
        query = select(t).order_by(t.c.started_at.desc(), t.c.id.desc()).limit(max(0, limit))
        if target is not None:
            query = query.where(t.c.target == target)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        with self._read("list_runs") as conn:
            return [self._run_dict(r) for r in conn.execute(query)]

    # --- trust --------------------------------------------------------------------------------------

    def get_trusted(self, target: str, env: str) -> dict[str, Any] | None:
        """``{target, env, digest, entries, trusted_by, trusted_at, reason}`` or None if never trusted."""
        if self._engine is None and self._path is not None:
            fast = self._fast_get_trusted(target, env)
            if fast is not _MISS:
                return fast  # type: ignore[return-value]
        from sqlalchemy import select

        from hybridcore.state import schema

        t = schema.trusted
        with self._read("get_trusted") as conn:
            row = conn.execute(select(t).where(t.c.target == target, t.c.env == env)).first()
        return None if row is None else self._trusted_dict(dict(row._mapping))

    @staticmethod
    def _trusted_dict(row: dict[str, Any]) -> dict[str, Any]:
        row["entries"] = json.loads(row["entries"])
        return row

    def _fast_open(self, *, write: bool) -> Any:
        """A stdlib-sqlite3 connection inside an open transaction on an existing, healthy database
        already at ``SCHEMA_VERSION`` in WAL mode, else ``None`` (take the full SQLAlchemy path, which
        owns creation, migration, refusal and every error)."""
        import sqlite3
        from urllib.parse import quote

        path = self._path
        if self._engine is not None or path is None:
            return None
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return None
            _FILES.acquire(path)  # released in _fast_close
        except (StateError, OSError):
            return None
        try:
            # mode=rw: never create the file here; isolation_level=None: we issue BEGIN ourselves.
            conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=rw", uri=True,
                                   timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error:
            _FILES.release(path)
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # IMMEDIATE for writers, as on the full path: two writers never deadlock upgrading a snapshot.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if (version is not None and int(version[0]) == SCHEMA_VERSION
                    and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"):
                return conn
        except (sqlite3.Error, ValueError):
            pass
        self._fast_close(conn)  # closing rolls back the open transaction
        return None

    def _fast_close(self, conn: Any) -> None:
        try:
            conn.close()
        finally:
            assert self._path is not None
            _FILES.release(self._path)

    @contextmanager
    def _fast(self, *, write: bool) -> Iterator[Any]:
        """The hot single-row statements without SQLAlchemy (~0.25 s to import) on a healthy SQLite
        file: yields a connection (committed on success) or ``None``."""
        import sqlite3

        conn = self._fast_open(write=write)
        if conn is None:
            yield None
            return
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise StateError(f"state write failed on {self._display_url()}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StateError(f"state write failed on {self._display_url()}: {exc}", hint=_MOVE_ASIDE) from exc
        finally:
            self._fast_close(conn)  # without COMMIT this rolls back

    def _fast_get_trusted(self, target: str, env: str) -> dict[str, Any] | object | None:
        """Read one trust row with stdlib sqlite3, or ``_MISS`` to take the full (SQLAlchemy) path."""
        import sqlite3

        try:
            with self._fast(write=False) as conn:
                if conn is None:
                    return _MISS
                cur = conn.execute(
                    "SELECT target, env, digest, entries, trusted_by, trusted_at, reason FROM trusted"
                    " WHERE target = ? AND env = ?", (target, env))
                row = cur.fetchone()
                if row is None:
                    return None
                return self._trusted_dict(dict(zip([d[0] for d in cur.description], row, strict=True)))
        except (StateError, sqlite3.Error, ValueError):
            return _MISS

    @staticmethod
    def _fast_upsert(conn: Any, table: str, values: Mapping[str, Any], keys: tuple[str, ...]) -> None:
        cols = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            [values[c] for c in cols])

    def set_trusted(self, target: str, env: str, digest: str, entries: Mapping[str, Any], *,
                    trusted_by: str, reason: str) -> None:
        """Trust ``digest`` (with its per-file ``entries``) for (target, env), replacing what was there."""
        values = {"target": target, "env": env, "digest": digest, "entries": _dumps(dict(entries)),
                  "trusted_by": trusted_by, "trusted_at": _now(), "reason": reason}
        with self._fast(write=True) as fast:
            if fast is not None:
                self._fast_upsert(fast, "trusted", values, ("target", "env"))
                return
        from hybridcore.state import schema

        with self._write("set_trusted") as conn:
            self._upsert(conn, schema.trusted, values, ("target", "env"))

    # --- manifests ----------------------------------------------------------------------------------

    def record_manifest(self, run_id: str, target: str, manifest: Mapping[str, Any], path: str) -> None:
        """Keep the Packer manifest of ``target`` in run ``run_id`` (which must be recorded already)."""
        values = {"run_id": run_id, "target": target, "manifest": _dumps(dict(manifest)),
                  "path": str(path), "recorded_at": _now()}
        with self._fast(write=True) as fast:
            if fast is not None:
                self._fast_upsert(fast, "manifests", values, ("run_id", "target"))
                return
        from hybridcore.state import schema

        with self._write("record_manifest") as conn:
            self._upsert(conn, schema.manifests, values, ("run_id", "target"))

    def get_manifests(self, run_id: str) -> list[dict[str, Any]]:
        """The manifests recorded for a run (exact id), by target."""
        from sqlalchemy import select

        from hybridcore.state import schema

        t = schema.manifests
        with self._read("get_manifests") as conn:
            rows = conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.target)).all()
        out = []
        for row in rows:
            item = dict(row._mapping)
            item["manifest"] = json.loads(item["manifest"])
            out.append(item)
        return out

    # --- artifacts ----------------------------------------------------------------------------------

    def record_artifact(self, record: Mapping[str, Any]) -> None:
        """Insert or replace an artifact record: ``build_id``, ``target``, ``provenance{command_id, env}``."""
        build_id, target = record.get("build_id"), record.get("target")
        if not build_id or not target:
            raise ValueError("record_artifact: the record needs 'build_id' and 'target'")
        prov = record.get("provenance") or {}
        values = {
            "build_id": str(build_id), "target": str(target), "env": prov.get("env"),
            "run_id": prov.get("command_id"), "record": _dumps(dict(record)),
            "created_at": prov.get("finished_at") or prov.get("started_at") or _now(),
        }
        with self._fast(write=True) as fast:
            if fast is not None:
                self._fast_upsert(fast, "artifacts", values, ("build_id",))
                return
        from hybridcore.state import schema

        with self._write("record_artifact") as conn:
            self._upsert(conn, schema.artifacts, values, ("build_id",))

    def get_artifact(self, build_id: str) -> dict[str, Any] | None:
        """The record with this build id, or the only one starting with it (StateError if several)."""
        from hybridcore.state import schema

        with self._read("get_artifact") as conn:
            row = self._by_prefix(conn, schema.artifacts.c.build_id, build_id, "build")
        return None if row is None else dict(json.loads(row.record))

    def list_artifacts(self, *, target: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Artifact records, newest first (build ids sort by time)."""
        from sqlalchemy import select

        from hybridcore.state import schema

        t = schema.artifacts
        query = select(t.c.record).order_by(t.c.build_id.desc()).limit(max(0, limit))
        if target is not None:
            query = query.where(t.c.target == target)
        with self._read("list_artifacts") as conn:
            return [dict(json.loads(r)) for r in conn.execute(query).scalars()]


_MISS = object()
