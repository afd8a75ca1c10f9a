"""Throw-away copies of the project, one per Packer binary, that cannot reach the real project.

Each sandbox is the project folder copied without its records, trust, VCS metadata and build outputs,
with every target path (and every variable value that is an absolute path into the project) re-rooted
into the copy, so state, trust, cache and artifacts of a sandbox run stay inside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hybridcore.packer.config import Project, Target

# Never copied into a sandbox: the project's own records and trust (that is the point of the sandbox),
# VCS metadata, and build outputs that would otherwise leak one run's results into the next.
_TOP_LEVEL_EXCLUDES = frozenset({".hybridcore", "artifacts"})
_ANYWHERE_EXCLUDES = frozenset({".git", "packer_cache", "output", "__pycache__", ".venv"})
_ANYWHERE_PATTERNS = ("output-*",)   # Packer's default output_directory is output-<build name>


def make_sandbox(project: Project, targets: Sequence[Target], dest: Path, packer_path: str,
                 excludes: Sequence[Path] = ()) -> Project:
    """Copy the project folder to ``dest`` and return a Project rooted there that uses ``packer_path``,
    keeps its state, trust, cache and artifacts inside ``dest``, and declares exactly ``targets``
    (re-rooted). Nothing in the returned project points back into the real root."""
    old = project.root.resolve()
    shutil.copytree(old, dest, symlinks=True, ignore=_ignore(old, excludes))
    new = dest.resolve()
    rerooted = {t.name: reroot_target(t, old, new) for t in targets}
    config = project.config_path and reroot_path(project.config_path, old, new)
    return dataclasses.replace(project, root=new, config_path=config, packer_binary=packer_path,
                               packer_version=None, cache_dir=None, targets=rerooted)


def _ignore(root: Path, excludes: Sequence[Path]) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skip = {n for n in names if n in _ANYWHERE_EXCLUDES
                or any(fnmatch.fnmatch(n, p) for p in _ANYWHERE_PATTERNS)}
        if here == root:
            skip |= {n for n in names if n in _TOP_LEVEL_EXCLUDES}
        skip |= {n for n in names if (here / n) in excludes}
        return skip

    return ignore


def reroot_path(path: Path, old: Path, new: Path) -> Path:
    """``path`` moved from under ``old`` to under ``new``; paths outside ``old`` are returned as they are."""
    try:
        return new / path.relative_to(old)
    except ValueError:
        return path


def reroot_target(target: Target, old: Path, new: Path) -> Target:
    """Every Path field (and tuple of Paths) of ``target`` under ``old`` mapped under ``new``. Variable
    values that are absolute paths into the project move too: otherwise a sandbox build could write
    into the real project through, say, ``output_directory``."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(target):
        value = getattr(target, f.name)
        if isinstance(value, Path):
            changes[f.name] = reroot_path(value, old, new)
        elif isinstance(value, tuple) and any(isinstance(v, Path) for v in value):
            changes[f.name] = tuple(reroot_path(v, old, new) if isinstance(v, Path) else v for v in value)
    changes["vars"] = {k: _reroot_str(v, old, new) for k, v in target.vars.items()}
    return dataclasses.replace(target, **changes)


def _reroot_str(value: Any, old: Path, new: Path) -> Any:
    if isinstance(value, str) and os.path.isabs(value) and is_under(Path(value), old):
        return str(reroot_path(Path(value), old, new))
    return value


def is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def isolated_env() -> Iterator[None]:
    """Unset what would point a sandbox run at the real project's state (the store reads
    ``HYBRIDCORE_STATE_URL`` from ``os.environ``), and put it back afterwards. Process-wide: do not run
    other hybridcore commands on other threads meanwhile."""
    saved = {n: os.environ.pop(n) for n in ("HYBRIDCORE_STATE_URL",) if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
