"""A file's digest cached by its stat signature, so an unchanged tree is re-checked with ``lstat`` only.

The signature is ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``, like dvc-data's state
(inode, mtime, size) plus the device and ctime: ctime cannot be set from user space, so an edit that
restores mtime (``cp -p``, ``touch -r``) still changes it.

Racy-git: a file modified within :data:`RACY_WINDOW_NS` of the moment its digest was taken may be
modified again within the same mtime tick (coarse on some filesystems) without its signature
changing, so such a digest is not cached.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from hybridcore.files import atomic_write_bytes, private_dir

__all__ = ["RACY_WINDOW_NS", "StatCache"]

log = logging.getLogger(__name__)

RACY_WINDOW_NS = 2_000_000_000
_VERSION = 1


def _signature(st: os.stat_result) -> str:
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} "


class StatCache:
    """Digest cache keyed by a file's stat signature, persisted as one compact JSON file.

    Each entry is ``path -> "dev ino size mtime_ns ctime_ns digest"``: a flat str->str map loads in
    ~6 ms for 10k entries (nested lists take 3x longer). Saving merges with what is on disk under a
    file lock and replaces the file atomically (0600), so concurrent savers never corrupt it; if the
    lock cannot be had the rename still makes it last-writer-wins. An unreadable or corrupt file is
    ignored and rebuilt. Failure to save only logs: a cache must never fail a build.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, str] | None = None
        self._dirty: dict[str, str] = {}

    def _load_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):  # ValueError covers JSON and UTF-8 decoding errors
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return {}
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return {}
        # Values are validated lazily in lookup(): a wrong entry is just a miss.
        return entries

    def _ensure(self) -> dict[str, str]:
        if self._entries is None:
            self._entries = self._load_file()
        return self._entries

    def __len__(self) -> int:
        return len(self._ensure())

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        """The digest cached for ``path`` if its signature is still ``st``'s, else ``None``."""
        # Called once per file on the warm path: the load check is kept inline.
        value = (self._entries if self._entries is not None else self._ensure()).get(path)
        if not isinstance(value, str):
            return None
        sig = _signature(st)
        # The digest is the caller's business (opaque text); an entry without one is just a miss.
        return value[len(sig) :] if value.startswith(sig) and len(value) > len(sig) else None

    def store(self, path: str, st: os.stat_result, digest: str, *, taken_ns: int | None = None) -> None:
        """Remember ``digest`` for ``path`` as it was when ``st`` was taken.

        ``taken_ns`` is when the caller started looking at the file (default: now); a file modified
        within the racy window before that is not cached.
        """
        now_ns = time.time_ns() if taken_ns is None else taken_ns
        if max(st.st_mtime_ns, st.st_ctime_ns) >= now_ns - RACY_WINDOW_NS:
            return
        value = _signature(st) + digest
        entries = self._ensure()
        if entries.get(path) != value:
            entries[path] = value
            self._dirty[path] = value

    def save(self) -> None:
        if not self._dirty:
            return
        from filelock import FileLock, Timeout  # lazily: ~30-100 ms to import, needed only on change

        try:
            private_dir(self.path.parent)
            lock = FileLock(str(self.path) + ".lock", timeout=5, mode=0o600)
            try:
                with lock:
                    self._write_merged()
            except Timeout:
                log.debug("stat cache lock busy; writing without merge: %s", self.path)
                self._write(self._ensure())
        except OSError as exc:
            log.warning("could not save stat cache %s: %s", self.path, exc)
            return
        self._dirty.clear()

    def _write_merged(self) -> None:
        # Another process may have saved since we loaded: keep its entries, overlay ours.
        merged = self._load_file()
        merged.update(self._dirty)
        self._entries = merged
        self._write(merged)

    def _write(self, entries: Mapping[str, str]) -> None:
        payload = json.dumps(
            {"version": _VERSION, "entries": entries}, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")
        atomic_write_bytes(self.path, payload, durable=False)  # a lost cache is only rebuilt
