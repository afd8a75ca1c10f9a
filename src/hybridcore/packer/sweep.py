"""Abandoned runs: a wrapper that was killed (SIGKILL, a crashed runner) leaves its run rows ``running``
and its private temp folder behind, and that folder may hold Packer's temp files with secrets in them.

The next command that finds an existing, writable state marks such runs ``abandoned`` and removes
their temp folder, but only a folder this wrapper made: directly under a temp root it uses, named the
way ``attempt`` names them (``hc-<slug>-<random>``), a real folder (not a symlink), owned by us. Which
runs are dead is ``StateStore.abandoned_runs``'s judgement (same host: pid and boot id; another host on
PostgreSQL: its build lock is gone).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import HybridcoreError

if TYPE_CHECKING:
    from hybridcore.state import StateStore

log = logging.getLogger(__name__)
Emit = Callable[[str, dict[str, Any]], None]   # ("abandoned", {run_id, why})

# attempt._short_tmpdir: tempfile.mkdtemp(prefix=f"hc-{slug[:16]}-") -> 8 random [a-z0-9_] characters
# Compiled on first use: only when a dead run left a temporary folder behind.
@functools.cache
def _name() -> re.Pattern[str]:  # attempt._short_tmpdir: hc-<slug[:16]>-<random>
    return re.compile(r"hc-[A-Za-z0-9_.~-]{1,16}-[a-z0-9_]{8}")


def temp_roots() -> set[Path]:
    """Where the wrapper makes private temp folders (see ``attempt._short_tmpdir``)."""
    return {Path(tempfile.gettempdir()).resolve(), Path("/tmp").resolve()}


def is_ours(path: Path, roots: set[Path] | None = None) -> bool:
    """True only for a folder the wrapper created: a real directory named ``hc-...`` directly in a
    temp root, owned by this user."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    return path.parent.resolve() in (roots or temp_roots()) and _name().fullmatch(path.name) is not None


def sweep(store: StateStore, emit: Emit | None = None) -> list[str]:
    """Mark every certainly-dead ``running`` run abandoned and remove its temp folder; the ids marked.
    Never raises for the sweep's own sake: a command must not fail because an old run could not be
    cleaned up (the next command tries again)."""
    try:
        dead = store.abandoned_runs()
    except HybridcoreError as exc:
        log.warning("abandoned-run sweep skipped: %s", exc)
        return []
    here = os.uname().nodename  # as state.common.this_process records it
    marked = []
    for run in dead:
        tmp = run.get("tmp_dir")
        if tmp and run.get("host") == here and is_ours(Path(tmp)):
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            won = store.mark_abandoned(run["id"], hint=f"the wrapper died: {run['why']}")
        except HybridcoreError as exc:
            log.warning("could not mark run %s abandoned: %s", run["id"], exc)
            continue
        if won:
            marked.append(run["id"])
            if emit is not None:
                emit("abandoned", {"run_id": run["id"], "why": run["why"]})
    return marked


class _NoState:
    """What read-only commands query when no state exists yet: empty, and creating nothing."""

    def list_runs(self, **_: Any) -> list[dict[str, Any]]:
        return []

    def list_artifacts(self, **_: Any) -> list[dict[str, Any]]:
        return []

    def get_run(self, run_id: str) -> None:
        return None

    def get_artifact(self, build_id: str) -> None:
        return None


NO_STATE = _NoState()
