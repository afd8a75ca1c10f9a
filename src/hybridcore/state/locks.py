"""Build locks: one holder per (target, env) for a build's whole run, across processes and machines.

The lock itself is held by something that dies with its holder, so a runner killed with SIGKILL never
leaves a lock behind:

- PostgreSQL: a session advisory lock on a connection of its own; the server releases it when that
  session ends (the runner exits or dies, or its connection drops).
- SQLite: ``flock`` on a file in ``state.db.locks/`` beside the database; the kernel releases it with
  the last descriptor (flock locks belong to the open file, so threads of one process exclude each other
  too, and closing another descriptor of the file drops nothing).

Who holds it is a ``build_locks`` row written right after acquiring and deleted on release; a stale row
(its holder died) is overwritten by the next holder. Waiting is bounded by ``timeout_s`` (0: try once,
None: wait for ever).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hybridcore.state.backend import Tx, one

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

_log = logging.getLogger("hybridcore.state")


class Held(Protocol):
    backend_pid: int | None

    def release(self) -> None: ...


def lock_name(target: str, env: str) -> bytes:
    return b"hybridcore-build\0" + target.encode() + b"\0" + env.encode()


# --- SQLite: a file lock -----------------------------------------------------------------------------


class _HeldFile:
    backend_pid: int | None = None

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # the kernel drops the flock with the last descriptor of this open file


class FileLocker:
    """``<folder>/<sha256 of target, env>.lock`` (0600 in a 0700 folder). Lock files are never deleted:
    deleting one while another process waits on it would let two holders lock two different files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_of(self, target: str, env: str) -> Path:
        import hashlib  # here: only a build takes a lock, and loading OpenSSL costs ~3 ms of every start-up

        return self.folder / (hashlib.sha256(lock_name(target, env)).hexdigest()[:32] + ".lock")

    def acquire(self, target: str, env: str, timeout_s: float | None) -> _HeldFile | None:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        fd = os.open(self.path_of(target, env), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        pause = 0.005
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return _HeldFile(fd)
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    os.close(fd)
                    return None
                # flock has no timeout: poll, backing off to 100 ms (what filelock does too).
                time.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, 0.1)
        except BaseException:
            os.close(fd)
            raise


# --- PostgreSQL: a session advisory lock -------------------------------------------------------------


def advisory_key(target: str, env: str) -> int:
    """A signed 64-bit key (``pg_advisory_lock(bigint)``) for (target, env)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(lock_name(target, env)).digest()[:8], "big", signed=True)


class _HeldSession:
    def __init__(self, conn: Connection, key: int, backend_pid: int) -> None:
        self._conn: Connection | None = conn
        self.key = key
        self.backend_pid: int | None = backend_pid

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            # All of this session's advisory locks (it holds just this one): the connection then goes
            # back to the pool clean.
            conn.exec_driver_sql("SELECT pg_advisory_unlock_all()")
        except Exception:
            # The session is gone (and the server released the lock with it), or in an unknown state:
            # never pool it, so a lock cannot outlive its release inside a pooled session.
            with contextlib.suppress(Exception):
                conn.invalidate()
        finally:
            with contextlib.suppress(Exception):
                conn.close()


class AdvisoryLocker:
    """Each held lock is a session of its own from ``engine`` (autocommit; released sessions are pooled,
    as opening one costs ~20 ms of authentication)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pid = os.getpid()

    def close(self) -> None:
        if self.pid == os.getpid():
            self.engine.dispose()  # idle sessions only: a lock still held keeps its own
        else:
            self.engine.dispose(close=False)  # forked: the parent's sessions are the parent's

    def acquire(self, target: str, env: str, timeout_s: float | None) -> _HeldSession | None:
        from sqlalchemy.exc import OperationalError

        key = advisory_key(target, env)
        # lock_timeout bounds the wait for an advisory lock too, and the server does the waiting (no
        # polling); 0 means no limit. The keepalives make the server notice a runner whose machine
        # died or dropped off the network within ~1 min (it sees a killed process at once).
        ms = 0 if timeout_s is None else max(1, int(timeout_s * 1000))
        conn = self.engine.connect()
        try:
            pid = int(conn.exec_driver_sql(
                "SELECT pg_backend_pid(), set_config('lock_timeout', %(t)s, false),"
                " set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false),"
                " set_config('tcp_keepalives_count', '3', false)", {"t": f"{ms}ms"}).scalar_one())
            if timeout_s is not None and timeout_s <= 0:
                got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": key}).scalar()
            else:
                try:
                    conn.exec_driver_sql("SELECT pg_advisory_lock(%(k)s)", {"k": key})
                    got = True
                except OperationalError as exc:
                    if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                        raise
                    got = False
            if not got:
                conn.close()
                return None
            return _HeldSession(conn, key, pid)
        except BaseException:
            conn.close()
            raise


def pg_holder_pid(tx: Tx, target: str, env: str) -> int | None:
    """The server pid of the PostgreSQL session holding the build lock of (target, env), or None."""
    key = advisory_key(target, env) & 0xFFFFFFFFFFFFFFFF  # pg_locks shows the key as two unsigned halves
    row = one(tx, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                  " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                  " AND CAST(classid AS bigint) = :hi AND CAST(objid AS bigint) = :lo",
              {"hi": key >> 32, "lo": key & 0xFFFFFFFF})
    return None if row is None else int(row["pid"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def holder_is_stale(row: dict[str, Any], here: dict[str, Any]) -> bool:
    """A holder row of a process of this machine and boot that no longer exists."""
    return (row.get("host") == here["host"] and row.get("boot_id") is not None
            and row.get("boot_id") == here["boot_id"] and not pid_alive(int(row["pid"])))


class BuildLock:
    """A held build lock; a context manager, or call :meth:`release` (idempotent)."""

    def __init__(self, target: str, env: str, holder: dict[str, Any], held: Held,
                 forget: Callable[[], None]) -> None:
        self.target, self.env, self.holder = target, env, holder
        self._held: Held | None = held
        self._forget = forget

    @property
    def held(self) -> bool:
        return self._held is not None

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            self._forget()  # the holder row first: whoever locks next finds no stale row of ours
        except Exception as exc:  # the lock still goes; a leftover row is overwritten by the next holder
            _log.warning("build lock %s/%s: could not remove the holder row: %s", self.target, self.env, exc)
        finally:
            held.release()

    def __enter__(self) -> BuildLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"BuildLock({self.target!r}, {self.env!r}, held={self.held})"
