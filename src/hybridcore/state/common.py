"""What every part of the state store shares, without importing SQLAlchemy (the CLI imports this).

``SCHEMA_VERSION`` lives here, once: the stdlib-sqlite3 fast backend compares against it without loading
the SQLAlchemy schema, and ``schema``/``migrations`` import it from here.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3
STATE_URL_ENV = "HYBRIDCORE_STATE_URL"
BUSY_TIMEOUT_S = 30.0
MOVE_ASIDE = "move it aside (it is never deleted for you) and run 'hybridcore-packer validate' to re-trust"

RUN_COLUMNS = (
    "id", "kind", "target", "env", "argv", "exit_code", "status", "category", "retryable", "hint",
    "started_at", "finished_at", "run_dir", "attempt",
    "host", "pid", "boot_id", "tmp_dir",  # v3: what the abandoned-run sweep needs
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory SQLite)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return None
    path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return None if path in ("", ":memory:") or path.startswith("file:") else Path(path)


def dialect_of(url: str) -> str:
    """``sqlite``, ``postgresql``... from a SQLAlchemy URL, without parsing it with SQLAlchemy."""
    return url.partition("://")[0].split("+", 1)[0].lower()


@cache
def boot_id() -> str | None:
    """This boot of this machine (Linux): with the host name and a pid, says whether a process is ours."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def this_process() -> dict[str, Any]:
    """``{host, pid, boot_id}`` of the calling process, as recorded in runs and lock holders."""
    # The host name as socket.gethostname() gives it (glibc reads it from uname), without importing
    # socket: ~2 ms of every command's start-up (measured), for this one call.
    return {"host": os.uname().nodename, "pid": os.getpid(), "boot_id": boot_id()}


def display_url(url: str) -> str:
    """The URL as it may be shown: a SQLite file as its path, any password masked."""
    from urllib.parse import urlsplit

    path = sqlite_path(url)
    if path is not None:
        return str(path)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()
    except ValueError:  # malformed (a bad port...): show only the scheme, the rest may hold a password
        return url.partition("://")[0] + "://..."
