"""Discovery for ``fingerprint``: which entries a fingerprint holds, and which files must be read.

The walking rules are documented in ``fingerprint``'s module docstring; this is their implementation,
kept apart so the hashing and the diff stay readable.
"""

from __future__ import annotations

import os
import stat as stat_mod
from pathlib import Path
from typing import TYPE_CHECKING

from blake3 import blake3

from hybridcore.errors import HybridcoreError

if TYPE_CHECKING:
    from hybridcore.packer.statcache import StatCache

__all__ = ["MISSING", "PREFIX", "InputUnreadable", "Walk", "hash_bytes"]

MISSING = "missing"
PREFIX = "blake3:"
_SKIP_NAMES = frozenset({".git", "__pycache__"})


class InputUnreadable(HybridcoreError):
    """An input exists but cannot be read (permissions, I/O error): refusing beats a wrong digest."""

    default_hint = "make the template, var files and provisioner assets readable by this user"


def hash_bytes(data: bytes) -> str:
    return PREFIX + blake3(data).hexdigest()


def _symlink_digest(path: str) -> str:
    # Domain-separated so a link and a file holding the target string differ.
    return hash_bytes(b"symlink\0" + os.fsencode(os.readlink(path)))


def _special_digest(mode: int) -> str:
    return hash_bytes(b"special\0" + oct(stat_mod.S_IFMT(mode)).encode())


class Walk:
    """Collects ``key -> digest`` for cheap entries and ``(key, path, stat)`` for files to read."""

    def __init__(self, root: str, cache: StatCache | None) -> None:
        self.root = root
        self.root_prefix = root.rstrip("/") + "/"
        self.real_root = os.path.realpath(root)
        self.cache = cache
        self.digests: dict[str, str] = {}
        self.pending: dict[str, tuple[str, os.stat_result]] = {}
        self.outside: dict[str, None] = {}
        self._following: set[str] = set()   # real paths of linked folders being walked (loop guard)

    def key_of(self, path: str) -> str:
        if path == self.root:
            return "."
        if path.startswith(self.root_prefix):
            return path[len(self.root_prefix) :]
        return path

    def add_named(self, raw: Path) -> None:
        path = os.path.normpath(os.path.join(self.root, os.fspath(raw)))
        key = self.key_of(path)
        try:
            st = os.stat(path)  # the operator named it: follow a symlink here
        except (FileNotFoundError, NotADirectoryError):
            self._set(key, MISSING)
            return
        except OSError as exc:
            raise InputUnreadable(f"cannot stat input {path}: {exc.strerror}") from exc
        if stat_mod.S_ISDIR(st.st_mode):
            real = os.path.realpath(path)
            self._following.add(real)  # a link inside that leads back here is a loop
            try:
                self._walk_dir(path, key)
            finally:
                self._following.discard(real)
        else:
            self._add_entry(path, key, st)

    def _set(self, key: str, digest: str) -> None:
        self.digests[key] = digest
        self.pending.pop(key, None)

    def _add_entry(self, path: str, key: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat_mod.S_ISREG(mode):
            if self.cache is not None:
                hit = self.cache.lookup(path, st)
                if hit is not None:
                    self._set(key, hit)
                    return
            self.digests.pop(key, None)
            self.pending[key] = (path, st)
        elif stat_mod.S_ISLNK(mode):  # only reached inside a walked folder
            self._link(path, key)
        else:
            self._set(key, _special_digest(mode))

    def _link(self, path: str, key: str) -> None:
        """A link inside a walked folder: its target's content when that stays inside the root."""
        target = os.path.realpath(path)
        if target != self.real_root and not target.startswith(self.real_root.rstrip("/") + "/"):
            self.outside[f"{key} -> {os.readlink(path)}"] = None
            self._set(key, _symlink_digest(path))
            return
        try:
            st = os.stat(target)
        except OSError:  # dangling: the target string is all there is
            self._set(key, _symlink_digest(path))
            return
        if not stat_mod.S_ISDIR(st.st_mode):
            self._add_entry(target, key, st)
            return
        here = os.path.realpath(os.path.dirname(path))
        if target in self._following or here == target or here.startswith(target.rstrip("/") + "/"):
            self._set(key, _symlink_digest(path))  # a loop: walking it would never end
            return
        self._following.add(target)
        try:
            self._walk_dir(target, key)
        finally:
            self._following.discard(target)

    def _walk_dir(self, path: str, key: str) -> None:
        """Walk a directory; this is the warm path, so the per-file work is kept inline.

        ``fstatat`` relative to an open directory fd skips re-resolving the whole path for each file
        (measurably cheaper than ``DirEntry.stat``, which lstat()s the full path).
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise InputUnreadable(f"cannot open asset directory {path}: {exc.strerror}") from exc
        subdirs: list[tuple[str, str]] = []
        base_key = "" if key == "." else key + "/"
        base_path = path.rstrip("/") + "/"
        lookup = self.cache.lookup if self.cache is not None else None
        digests, pending = self.digests, self.pending
        stat, s_isreg, s_isdir = os.stat, stat_mod.S_ISREG, stat_mod.S_ISDIR
        try:
            try:
                names = sorted(os.listdir(fd))
            except OSError as exc:
                raise InputUnreadable(f"cannot list asset directory {path}: {exc.strerror}") from exc
            for name in names:
                if name in _SKIP_NAMES:
                    continue
                try:
                    st = stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished while walking: simply no longer part of the tree
                except OSError as exc:
                    raise InputUnreadable(f"cannot stat {base_path}{name}: {exc.strerror}") from exc
                child_key, child_path = base_key + name, base_path + name
                if s_isdir(st.st_mode):
                    subdirs.append((child_path, child_key))
                elif not s_isreg(st.st_mode):
                    self._add_entry(child_path, child_key, st)  # a link (never followed) or a special file
                elif (hit := lookup(child_path, st) if lookup is not None else None) is not None:
                    digests[child_key] = hit  # no pending.pop(): a key seen twice is the same file either way
                else:
                    pending[child_key] = (child_path, st)
        finally:
            os.close(fd)
        for sub_path, sub_key in subdirs:
            self._walk_dir(sub_path, sub_key)
