"""Retention of run folders and JSONL logs: ``runs prune --older-than DAYS`` and ``[runs] keep = N``.

Only what the wrapper created is touched: entries of ``.hybridcore/runs/`` and ``.hybridcore/logs/`` whose
names are command ids (ULIDs, which carry their creation time, so no clock on the file decides).
Symlinked folders are refused, links inside are removed as links, never followed. Trust, built
fingerprints, artifact records and run rows in the state are never removed.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hybridcore.errors import ConfigError
from hybridcore.files import refuse_link
from hybridcore.ids import ULID_PATTERN, ulid_time_ms

_ULID = re.compile(f"^{ULID_PATTERN}$")
_LOG = re.compile(f"^({ULID_PATTERN})\\.jsonl$")


@dataclass(frozen=True)
class PruneResult:
    removed: tuple[str, ...]   # command ids whose folder and/or log went
    freed_bytes: int
    kept: int

    def to_dict(self) -> dict[str, object]:
        return {"removed": list(self.removed), "freed_bytes": self.freed_bytes, "kept": self.kept}


def _own_dir(path: Path) -> bool:
    """True for a real folder; False when absent. A symlink or file where our folder should be is
    refused (:class:`UnsafeFolder`): pruning never follows links out of the state folder."""
    refuse_link(path)
    return path.exists()


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total


def command_ids(state_dir: Path) -> dict[str, list[Path]]:
    """Every command id with a run folder or a log, and those paths."""
    found: dict[str, list[Path]] = {}
    runs, logs = state_dir / "runs", state_dir / "logs"
    if _own_dir(runs):
        for entry in runs.iterdir():
            if _ULID.match(entry.name):
                found.setdefault(entry.name, []).append(entry)
    if _own_dir(logs):
        for entry in logs.iterdir():
            m = _LOG.match(entry.name)
            if m:
                found.setdefault(m.group(1), []).append(entry)
    return found


def prune(state_dir: Path, *, older_than_days: float | None = None, keep: int | None = None,
          active: Collection[str] = (), now_ms: int | None = None) -> PruneResult:
    """Remove the run folders and logs of commands older than ``older_than_days`` and/or beyond the
    newest ``keep``; commands in ``active`` (still running) are never removed."""
    if older_than_days is not None and older_than_days < 0:
        raise ConfigError("--older-than must be zero or more days")
    if keep is not None and keep < 0:
        raise ConfigError("keep must be zero or more commands")
    found = command_ids(state_dir)
    newest_first = sorted(found, reverse=True)  # ULIDs sort by time
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    doomed: set[str] = set()
    if keep is not None:
        doomed.update(newest_first[keep:])
    if older_than_days is not None:
        cutoff = now - int(older_than_days * 86_400_000)
        doomed.update(cid for cid in found if ulid_time_ms(cid) < cutoff)
    doomed -= set(active)
    freed = 0
    for cid in sorted(doomed):
        for path in found[cid]:
            freed += _size(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    return PruneResult(removed=tuple(sorted(doomed)), freed_bytes=freed, kept=len(found) - len(doomed))
