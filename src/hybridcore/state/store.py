"""The state store: command runs, trusted input digests, manifests, artifact records, the registry's
channels and revocations, and build locks.

Each operation is written once (``queries``, ``registry``) against the small ``backend.Tx`` interface
and runs on one of two backends: the stdlib-sqlite3 ``fast`` backend for the hot single-row statements
on a healthy SQLite file (no SQLAlchemy import: ~0.25 s saved per command), else the SQLAlchemy
``engine`` backend, which creates and migrates the schema, serves listings and speaks PostgreSQL
(``HYBRIDCORE_STATE_URL=postgresql+psycopg://...``). The state file is never deleted, rewritten or
migrated past what this code understands.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import StateError
from hybridcore.files import private_dir
from hybridcore.state import queries, registry
from hybridcore.state.backend import Tx, one
from hybridcore.state.common import (
    BUSY_TIMEOUT_S,
    SCHEMA_VERSION,
    STATE_URL_ENV,
    dialect_of,
    display_url,
    dumps,
    now,
    sqlite_path,
    this_process,
)
from hybridcore.state.errors import LockTimeout
from hybridcore.state.fast import FastBackend
from hybridcore.state.liveness import why_abandoned
from hybridcore.state.locks import AdvisoryLocker, BuildLock, FileLocker, Held, holder_is_stale, pg_holder_pid

if TYPE_CHECKING:
    from hybridcore.state.engine import SqlAlchemyBackend

__all__ = ["BUSY_TIMEOUT_S", "SCHEMA_VERSION", "STATE_URL_ENV", "StateStore"]

_HOT_WRITE = {"write": True, "hot": True}


class StateStore:
    """State of one project (or a shared database).

    Thread-safe and safe across processes and machines (PostgreSQL). Every method raises ``StateError``
    when the database is corrupt, newer than this code, misconfigured, or (``StateUnavailable``, exit 75)
    unreachable.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._path = sqlite_path(url)
        self._fast = FastBackend(self._path) if self._path is not None else None
        self._full: SqlAlchemyBackend | None = None
        self._locker: FileLocker | AdvisoryLocker | None = None
        self._lock = threading.RLock()  # reentrant: making the locker makes the SQLAlchemy backend

    @classmethod
    def for_root(cls, root: Path) -> StateStore:
        """``$HYBRIDCORE_STATE_URL`` if set, else ``<root>/.hybridcore/state.db``."""
        url = os.environ.get(STATE_URL_ENV, "").strip()
        if url:
            return cls(url)
        # A symlinked .hybridcore/ is refused (UnsafeFolder), never followed to keep state elsewhere.
        folder = private_dir(Path(root) / ".hybridcore")
        return cls(f"sqlite:///{(folder / 'state.db').absolute()}")

    def __repr__(self) -> str:
        return f"StateStore({display_url(self.url)!r})"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return dialect_of(self.url)

    @property
    def uses_sqlalchemy(self) -> bool:
        """Whether this store has opened its SQLAlchemy backend (the fast path served it otherwise)."""
        return self._full is not None and self._full.opened

    # --- backends -----------------------------------------------------------------------------------

    def _sa(self) -> SqlAlchemyBackend:
        if self._full is None:
            with self._lock:
                if self._full is None:
                    from hybridcore.state.engine import SqlAlchemyBackend

                    self._full = SqlAlchemyBackend(self.url, self._path)
        return self._full

    @contextmanager
    def _tx(self, what: str, *, write: bool, hot: bool = False) -> Iterator[Tx]:
        """A transaction on the fast backend when ``hot`` and it accepts, else on SQLAlchemy."""
        if hot and self._fast is not None:
            fast = self._fast.begin(what, write=write)
            if fast is not None:
                with fast as tx:
                    yield tx
                return
        with self._sa().begin(what, write=write) as tx:
            yield tx

    def exists(self) -> bool:
        """Whether the state was ever created (read-only commands never create it): the SQLite file is
        there and not empty, or the database holds a hybridcore schema. Creates nothing."""
        if self._path is not None:
            return self._path.is_file() and self._path.stat().st_size > 0
        return self._sa().exists()

    def check_writable(self) -> None:
        """Raise StateError unless a write transaction commits now (read-only file or replica, full disk,
        corrupt file, missing permissions): what a build checks before Packer starts. Creates the state
        if it does not exist yet."""
        with self._tx("write check", **_HOT_WRITE) as tx:
            tx.run("UPDATE meta SET value = value WHERE key = 'schema_version'")

    def schema_version(self) -> int:
        """The schema version of the (opened, hence up-to-date) database."""
        return self._sa().schema_version()

    def close(self) -> None:
        with self._lock:
            if isinstance(self._locker, AdvisoryLocker):
                self._locker.close()
            self._locker = None
            if self._fast is not None:
                self._fast.close()  # the kept connection: its close checkpoints the WAL once
            if self._full is not None:
                self._full.close()
                self._full = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ---------------------------------------------------------------------------------------

    def record_run(self, run: Mapping[str, Any]) -> None:
        """Insert or update the run ``run["id"]``; only the columns given are written on update.

        Keys outside the ``runs`` columns are ignored. A new run needs ``kind``; ``status`` defaults
        to ``"running"`` and ``started_at`` to now. ``argv`` is stored as JSON (already redacted).
        Since v3 a run may say where it runs: ``host``, ``pid``, ``boot_id``, ``tmp_dir``.
        """
        values = queries.run_values(run)
        with self._tx("record_run", **_HOT_WRITE) as tx:
            queries.record_run(tx, values)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with this id, or the only one whose id starts with it (StateError if several)."""
        with self._tx("get_run", write=False) as tx:
            return queries.get_run(tx, run_id)

    def list_runs(self, *, limit: int = 20, target: str | None = None, kind: str | None = None,
                  status: str | None = None, host: str | None = None) -> list[dict[str, Any]]:
        """Newest first (by ``started_at``, then id)."""
        with self._tx("list_runs", write=False) as tx:
            return queries.list_runs(tx, limit=limit, target=target, kind=kind, status=status, host=host)

    def running_runs(self, *, host: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """Runs still marked ``running`` (on ``host`` if given): what the abandoned-run sweep examines."""
        # Hot: every command sweeps before Packer starts, and SQLAlchemy's import would dominate it.
        with self._tx("running_runs", write=False, hot=True) as tx:
            return queries.list_runs(tx, limit=limit, status="running", host=host)

    def mark_abandoned(self, run_id: str, *, hint: str | None = None) -> bool:
        """Mark a ``running`` run ``abandoned`` (its wrapper died); False if it is not running (any more),
        so of several sweepers exactly one wins."""
        with self._tx("mark_abandoned", **_HOT_WRITE) as tx:
            return queries.mark_abandoned(tx, run_id, hint)

    def abandoned_runs(self) -> list[dict[str, Any]]:
        """``running`` runs whose wrapper certainly died (see ``sweep``), each with a ``why``; the sweep
        then removes their ``tmp_dir`` (same host) and calls :meth:`mark_abandoned`."""
        here = this_process()
        holder_of = self.lock_holder if self.dialect == "postgresql" else None
        out = []
        for run in self.running_runs():
            why = why_abandoned(run, here, holder_of)
            if why is not None:
                out.append({**run, "why": why})
        return out

    # --- trust and manifests ------------------------------------------------------------------------

    def get_trusted(self, target: str, env: str) -> dict[str, Any] | None:
        """``{target, env, digest, entries, trusted_by, trusted_at, reason}`` or None if never trusted."""
        with self._tx("get_trusted", write=False, hot=True) as tx:
            return queries.get_trusted(tx, target, env)

    def set_trusted(self, target: str, env: str, digest: str, entries: Mapping[str, Any], *,
                    trusted_by: str, reason: str) -> None:
        """Trust ``digest`` (with its per-file ``entries``) for (target, env), replacing what was there."""
        values = {"target": target, "env": env, "digest": digest, "entries": dumps(dict(entries)),
                  "trusted_by": trusted_by, "trusted_at": now(), "reason": reason}
        with self._tx("set_trusted", **_HOT_WRITE) as tx:
            queries.upsert(tx, "trusted", values, ("target", "env"))

    def record_manifest(self, run_id: str, target: str, manifest: Mapping[str, Any], path: str) -> None:
        """Keep the Packer manifest of ``target`` in run ``run_id`` (which must be recorded already)."""
        values = {"run_id": run_id, "target": target, "manifest": dumps(dict(manifest)),
                  "path": str(path), "recorded_at": now()}
        with self._tx("record_manifest", **_HOT_WRITE) as tx:
            queries.upsert(tx, "manifests", values, ("run_id", "target"))

    def get_manifests(self, run_id: str) -> list[dict[str, Any]]:
        """The manifests recorded for a run (exact id), by target."""
        with self._tx("get_manifests", write=False) as tx:
            return queries.get_manifests(tx, run_id)

    # --- artifact records and the registry ----------------------------------------------------------

    def record_artifact(self, record: Mapping[str, Any]) -> None:
        """Insert or replace an artifact record: ``build_id``, ``target``, ``provenance{command_id, env}``,
        and the ``platform``/``region`` that ``latest_artifact`` filters on."""
        values = queries.artifact_values(record)
        with self._tx("record_artifact", **_HOT_WRITE) as tx:
            queries.upsert(tx, "artifacts", values, ("build_id",))

    def get_artifact(self, build_id: str) -> dict[str, Any] | None:
        """The record with this build id, or the only one starting with it (StateError if several)."""
        with self._tx("get_artifact", write=False) as tx:
            return queries.get_artifact(tx, build_id)

    def list_artifacts(self, *, target: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Artifact records, newest first (build ids sort by time)."""
        with self._tx("list_artifacts", write=False) as tx:
            return queries.list_artifacts(tx, target=target, limit=limit)

    def latest_artifact(self, target: str, platform: str | None = None, region: str | None = None,
                        channel: str | None = None, *, env: str | None = None) -> dict[str, Any] | None:
        """The newest unrevoked record of ``target`` matching the filters given (in ``channel``: promoted
        to it), or None."""
        with self._tx("latest_artifact", write=False) as tx:
            return registry.latest(tx, target, platform=platform, region=region, channel=channel, env=env)

    def promote(self, build_id: str, channel: str, who: str) -> dict[str, Any]:
        """Put the build (id or unique prefix) in ``channel``; the promote event ``{id, build_id, action,
        channel, reason, who, at}`` (the earlier one if it was there already). ``UnknownArtifact`` for no
        such build, StateError for a revoked one."""
        with self._tx("promote", write=True) as tx:
            return registry.promote(tx, build_id, channel, who)

    def revoke(self, build_id: str, reason: str, who: str) -> dict[str, Any]:
        """Revoke the build for good (``latest_artifact`` never returns it again); the revoke event."""
        with self._tx("revoke", write=True) as tx:
            return registry.revoke(tx, build_id, reason, who)

    def artifact_history(self, build_id: str) -> list[dict[str, Any]]:
        """Promote/revoke events of the build, oldest first."""
        with self._tx("artifact_history", write=False) as tx:
            return registry.history(tx, build_id)

    def channels_of(self, build_id: str) -> list[str]:
        """Channels the build is in, sorted (none once revoked)."""
        with self._tx("channels_of", write=False) as tx:
            return registry.channels_of(tx, build_id)

    def revocation_of(self, build_id: str) -> dict[str, Any] | None:
        """The revoke event of the build (reason, who, at), or None."""
        with self._tx("revocation_of", write=False) as tx:
            return registry.revocation_of(tx, registry.full_id(tx, build_id))

    # --- build locks --------------------------------------------------------------------------------

    def _lockers(self) -> FileLocker | AdvisoryLocker:
        with self._lock:
            if isinstance(self._locker, AdvisoryLocker) and self._locker.pid != os.getpid():
                self._locker.close()  # forked: never take locks on the parent's pooled sessions
                self._locker = None
            if self._locker is None:
                if self._path is not None:
                    self._locker = FileLocker(self._path.with_name(self._path.name + ".locks"))
                elif self.dialect == "postgresql":
                    self._locker = AdvisoryLocker(self._sa().lock_engine())
                else:
                    raise StateError(f"build locks need a SQLite file or PostgreSQL, not {display_url(self.url)}",
                                     hint=f"set {STATE_URL_ENV} to a sqlite:/// file or postgresql+psycopg:// URL")
            return self._locker

    def build_lock(self, target: str, env: str, *, timeout_s: float | None = 0.0,
                   command_id: str | None = None) -> BuildLock:
        """Hold the build lock of (target, env) until ``release()`` / the end of the ``with`` block.

        Waits up to ``timeout_s`` (0: try once; None: no limit), then raises ``LockTimeout`` naming the
        holder (host, pid, command id). The lock dies with this process (PostgreSQL: its session; SQLite:
        its file descriptor), whatever kills it.
        """
        locker = self._lockers()
        started = time.monotonic()
        with self._guarded("build_lock"):
            held: Held | None = locker.acquire(target, env, timeout_s)
        if held is None:
            raise LockTimeout(target, env, self.lock_holder(target, env), time.monotonic() - started)
        holder = {"target": target, "env": env, **this_process(), "command_id": command_id,
                  "acquired_at": now(), "backend_pid": held.backend_pid}
        try:
            with self._tx("build_lock", **_HOT_WRITE) as tx:
                queries.upsert(tx, "build_locks", holder, ("target", "env"))
        except BaseException:
            held.release()
            raise

        def forget() -> None:
            with self._tx("build_lock", **_HOT_WRITE) as tx:
                tx.run("DELETE FROM build_locks WHERE target = :target AND env = :env AND host = :host"
                       " AND pid = :pid AND acquired_at = :acquired_at", holder)

        return BuildLock(target, env, holder, held, forget)

    def lock_holder(self, target: str, env: str) -> dict[str, Any] | None:
        """Who holds the build lock of (target, env) now: ``{target, env, host, pid, boot_id, command_id,
        acquired_at, backend_pid}``, or None when nobody does. PostgreSQL asks the server (a holder that
        has not recorded itself yet shows only ``backend_pid``); SQLite trusts the holder row unless its
        process is gone from this machine."""
        with self._tx("lock_holder", write=False, hot=True) as tx:
            row = one(tx, "SELECT target, env, host, pid, boot_id, command_id, acquired_at, backend_pid"
                          " FROM build_locks WHERE target = :target AND env = :env", {"target": target, "env": env})
            if tx.dialect == "postgresql":
                pid = pg_holder_pid(tx, target, env)
                if pid is None:
                    return None
                return row if row is not None and row["backend_pid"] == pid else {
                    "target": target, "env": env, "backend_pid": pid}
        if row is not None and holder_is_stale(row, this_process()):
            return None
        return row

    @contextmanager
    def _guarded(self, what: str) -> Iterator[None]:
        """Errors of the lock mechanism as StateError: the server's (PostgreSQL), the file system's."""
        if self._path is None:
            with self._sa().guard(what):
                yield
            return
        try:
            yield
        except OSError as exc:
            raise StateError(f"cannot take a build lock beside {self._path}: {exc}",
                             hint=f"check permissions of {self._path.parent}") from exc
