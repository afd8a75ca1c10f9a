"""Private files: the one place the wrapper creates folders and writes files.

* :func:`private_dir` makes the wrapper's own folders 0700 and refuses one that is a symlink (someone
  could have pointed it elsewhere before the wrapper first ran);
* :func:`atomic_writer` / :func:`atomic_write_bytes` / :func:`atomic_write_json` write through a temporary
  file in the same folder, created with ``O_EXCL | O_NOFOLLOW`` under an unpredictable name (so a
  planted file or symlink is never written through), then ``os.replace``: a reader, a crash or Ctrl-C
  sees the old file or the new one, never half a document;
* :func:`open_private` opens a file for writing 0600, never through a symlink.

Missing folders on the way are created 0700; a folder that already exists is used as it is (never
chmod-ed: it may be the user's).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from hybridcore.errors import HybridcoreError

__all__ = [
    "UnsafeFolder",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_writer",
    "open_private",
    "private_dir",
    "refuse_link",
]

_TEMP_ATTEMPTS = 100


class UnsafeFolder(HybridcoreError, OSError):
    """A folder the wrapper keeps private files in is a symlink or not a folder at all.

    An ``OSError`` too, so that code treating a folder it cannot use as an I/O failure (the caches,
    which must never fail a build) keeps doing so.
    """

    default_hint = "remove the symlink (or file) so hybridcore can create a real 0700 folder there"


def private_dir(path: Path) -> Path:
    """The wrapper's own folder ``path``, created 0700 (with any missing parents) if it does not exist.

    An existing ``path`` is used as it is, unless it is a symlink or not a folder: then
    :class:`UnsafeFolder` is raised rather than writing private files wherever the link points.
    """
    if not _make_dirs(path):
        refuse_link(path)
    return path


def refuse_link(path: Path) -> None:
    """Raise :class:`UnsafeFolder` if ``path`` exists and is a symlink or not a folder."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFolder(f"{path} is a symlink; hybridcore keeps its private files only in a real "
                           f"folder, never through a link")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFolder(f"{path} is not a folder; hybridcore needs a private folder there")


def _make_dirs(path: Path) -> bool:
    """Create ``path`` and its missing parents 0700; whether ``path`` itself was created here."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    except FileNotFoundError:
        if path.parent == path:
            raise
        _make_dirs(path.parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            return False
    # mkdir's mode is filtered by the umask, which can only take bits away: give the owner's back.
    # lstat first so a folder swapped for a symlink in between is not chmod-ed through the link.
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return True


def _ensure_folder(folder: Path) -> None:
    """A folder to write into: created private if missing, used as it is (link or not) otherwise."""
    if not folder.is_dir():
        _make_dirs(folder)


def _create_temp(folder: Path, name: str, mode: int) -> tuple[int, Path]:
    """A new, empty file beside ``folder/name``, created exclusively (never an existing file or link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMP_ATTEMPTS):
        tmp = folder / f".{name}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, mode)  # exact mode whatever the umask
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return fd, tmp
    raise FileExistsError(f"could not create a temporary file in {folder}")


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o600, *, durable: bool = True) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` (with ``mode``) when the block ends without an exception.

    On an exception the temporary file is removed and ``path`` is left as it was. ``durable`` fsyncs
    the data before the rename (records); caches, which are rebuilt when lost, pass ``False``.
    """
    folder = path.parent
    _ensure_folder(folder)
    fd, tmp = _create_temp(folder, path.name, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """``data`` as the 0600 file ``path``, written atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, durable=durable) as fh:
        fh.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON (``str()`` for anything JSON does not know), written atomically, 0600."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


@overload
def open_private(path: Path, *, append: bool = ..., encoding: None = None) -> IO[bytes]: ...
@overload
def open_private(path: Path, *, append: bool = ..., encoding: str) -> IO[str]: ...


def open_private(path: Path, *, append: bool = False, encoding: str | None = None) -> IO[Any]:
    """``path`` open for writing (truncated, or appended to with ``append``), created 0600 if missing.

    Binary unless ``encoding`` is given. A symlink at ``path`` is refused (``OSError``, ELOOP) rather
    than followed; an existing file keeps its mode. Opening with ``append`` and closing again creates
    an empty private file without touching an existing one.
    """
    _ensure_folder(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    mode: Literal["ab", "wb"] = "ab" if append else "wb"
    if encoding is None:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode[0], encoding=encoding)
