"""The SQLite state file: created private, checked before use, and never touched outside SQLite while held.

Closing *any* descriptor of a file drops every POSIX lock the process holds on it (SQLite's "How To
Corrupt An SQLite Database File", 2.2): a plain ``open()``/``close()`` of ``state.db`` while another thread
holds a SQLite lock lets other processes write over each other. So the header check runs only while no
connection or engine of this process has the file open, under one process-wide lock, and every
connection (fast backend) and engine (SQLAlchemy backend) registers as a holder before it opens the file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hybridcore.errors import StateError
from hybridcore.state.common import MOVE_ASIDE

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_header(path: Path) -> None:
    """Refuse a file that is plainly not (or no longer) a whole SQLite database. Only ever called
    through :data:`FILES`, never while this process holds a connection to the file."""
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
                         hint=MOVE_ASIDE)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The in-header page count is valid only when its "version-valid-for" matches the change counter.
    # Skip while a -wal file exists: a concurrent checkpoint may have written the header before the tail.
    if (header[92:96] == header[24:28] and pages * page_size > size
            and not path.with_name(path.name + "-wal").exists()):
        raise StateError(f"state database {path} is truncated ({size} bytes, header says "
                         f"{pages * page_size})", hint=MOVE_ASIDE)


class SqliteFiles:
    """Who in this process holds a SQLite file open, so nothing outside SQLite ever touches it then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, int] = {}

    def acquire(self, path: Path) -> None:
        """Check the header if nobody here holds the file, then count one more holder."""
        key = os.path.abspath(path)
        with self._lock:
            if not self._holders.get(key):
                check_sqlite_header(path)
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


FILES = SqliteFiles()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FILES.reset_after_fork)


def create_private_file(path: Path) -> None:
    """Create the SQLite file 0600 (and its folder 0700) before SQLite does, so no umask can widen it."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)  # SQLite treats an empty file as an empty database; -wal/-shm inherit this mode
