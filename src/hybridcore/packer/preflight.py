"""Preconditions, all checked before Packer starts (DESIGN.md: "Nothing is started when the state cannot be
written").

- The template and every var file: a readable regular text file (or a folder of templates) within a
  size bound. A binary file, a FIFO or a device is refused fast (exit 2) and a FIFO is never opened
  blocking: Packer would hang on it or chew through megabytes of garbage, and so would the parsers.
- The state: a write transaction commits now (read-only bind mount, full disk, corrupt or locked file),
  and the state folder has room for the run's logs.

The cache needs no check here: a read-only shared cache is used as is (``cache.SharedCache`` links
entries into a private, writable view that Packer gets instead).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from hybridcore.errors import HybridcoreError, StateError, TemplateError

if TYPE_CHECKING:
    from hybridcore.state import StateStore

TEMPLATE_MAX_BYTES = 8 << 20        # far beyond any hand-written template; a bound on what is read
MIN_FREE_BYTES = 256 << 10          # room for a run's first logs and records before Packer starts
_TEMPLATE_SUFFIXES = (".pkr.hcl", ".pkr.json", ".pkrvars.hcl")


class NoSpace(HybridcoreError):
    default_hint = "free space on that file system (or move the project), then run the command again"


def check_templates(paths: Iterable[Path]) -> None:
    """Raise TemplateError (exit 2) unless each template (file, or every template in a folder) is a
    regular, readable UTF-8 text file of at most TEMPLATE_MAX_BYTES."""
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # a missing template is reported by the planner with its own hint
        if stat.S_ISDIR(st.st_mode):
            for child in sorted(path.iterdir()):
                if child.name.endswith(_TEMPLATE_SUFFIXES):
                    check_template(child)
            continue
        check_template(path)


def check_template(path: Path) -> None:
    check_text_file(path, "template", fix="point the target's 'template' at a .pkr.hcl/.pkr.json file "
                                          "or a folder of them")


def check_var_file(path: Path) -> None:
    """A var file is read by the wrapper (for its secrets) and by Packer: bounded like a template."""
    check_text_file(path, "var file", fix="point --var-file (or 'var_files') at a .pkrvars.hcl or "
                                          ".json file")


def check_text_file(path: Path, what: str, *, fix: str) -> None:
    """Raise TemplateError (exit 2) unless ``path`` is a regular, readable UTF-8 text file of at most
    TEMPLATE_MAX_BYTES; never blocks on a FIFO and never reads past the bound."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise TemplateError(f"cannot read {what} {path}: {exc.strerror}",
                            hint="check that the file exists and is readable") from exc
    if not stat.S_ISREG(st.st_mode):
        raise TemplateError(f"{what} {path} is not a regular file ({_kind(st.st_mode)})", hint=fix)
    if st.st_size > TEMPLATE_MAX_BYTES:
        raise TemplateError(f"{what} {path} is {st.st_size} bytes; {what}s over "
                            f"{TEMPLATE_MAX_BYTES >> 20} MiB are refused",
                            hint=f"is this really a Packer {what}? split it or point at the right file")
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since stat, opening still returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise TemplateError(f"cannot read {what} {path}: {exc.strerror}",
                            hint="check the file's permissions") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TemplateError(f"{what} {path} is not a regular file", hint=fix)
        data = os.read(fd, TEMPLATE_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if b"\x00" in data:
        raise TemplateError(f"{what} {path} is a binary file (it contains NUL bytes)", hint=fix)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{what} {path} is not UTF-8 text (invalid byte at offset {exc.start})",
                            hint=f"save the {what} as UTF-8; Packer reads it as UTF-8") from exc


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def check_state(store: StateStore, state_dir: Path, *, min_free: int = MIN_FREE_BYTES) -> None:
    """Raise unless the state takes a write now and its folder has ``min_free`` bytes for logs."""
    check_space(state_dir, min_free)
    try:
        store.check_writable()
    except OSError as exc:  # the state folder itself (read-only bind mount, full disk)
        raise StateError(f"state {state_dir} cannot be written: {exc.strerror or exc}",
                         hint="make the state folder writable (or set HYBRIDCORE_STATE_URL)") from exc


def check_space(folder: Path, need: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # an unreadable folder is reported by the writes that follow, with their own error
    if free < need:
        raise NoSpace(f"only {free >> 10} KiB free in {folder}; a run needs at least {need >> 10} KiB "
                      "of space for its logs and records")


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
