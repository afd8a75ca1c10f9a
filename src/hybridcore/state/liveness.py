"""Which ``running`` runs are certainly dead: the judgement behind the abandoned-run sweep.

- Same machine (host name and boot id): its process is gone, or the machine rebooted since.
- Another machine, on PostgreSQL: a build whose (target, env) build lock is no longer held by its
  command (the server released it when that runner died). So a runner must take the build lock
  *before* it records the build's run row, or a sweep could take a run still waiting for the lock for
  a dead one.
- Anything else (a run on another machine on SQLite, a non-build run elsewhere, a run recorded before
  schema v3 without host/pid) cannot be judged and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybridcore.state.locks import pid_alive

HolderOf = Callable[[str, str], "Mapping[str, Any] | None"]


def why_abandoned(run: Mapping[str, Any], here: Mapping[str, Any], holder_of: HolderOf | None) -> str | None:
    """Why ``run`` (a ``running`` run row) is dead, or None when it is (or may be) alive."""
    host, pid, boot = run.get("host"), run.get("pid"), run.get("boot_id")
    if not host or pid is None:
        return None
    if host == here["host"]:
        if boot and here.get("boot_id") and boot != here["boot_id"]:
            return f"host {host} rebooted since it started"
        return None if pid_alive(int(pid)) else f"its process {pid} on {host} is gone"
    target, env = run.get("target"), run.get("env")
    if holder_of is None or run.get("kind") != "build" or not target or not env:
        return None
    holder = holder_of(str(target), str(env))
    command = str(run["id"]).split("/", 1)[0]
    if holder is None or holder.get("command_id") not in (run["id"], command):
        return f"its build lock on ({target}, {env}) is no longer held by {host} (the runner died)"
    return None
