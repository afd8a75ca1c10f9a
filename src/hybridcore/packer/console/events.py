"""The events the runner tells the console about (``Session.emit``), and the one way to read them.

The runner calls its observer ``(target, "event", line)`` with ``line = "<name>"`` or
``"<name>:<detail>"``, ``detail`` a JSON object of the event's fields (``start:2`` and ``finish:ok``
keep their older scalar forms). ``target`` is ``"*"`` for the whole command. Names and fields are the
runner's (``session.py`` lists them); ``events.md`` beside this module says which state and message
each becomes. Unknown names and fields are ignored, so emitting a new one is always safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

START = "start"                # attempt (int)
FINISH = "finish"              # status (str)
RETRY = "retry"                # attempt (the failed one), of (attempts allowed), category, wait_s
INTERRUPT = "interrupt"        # target "*": signal (SIGINT|SIGTERM), grace_s, kill (a second Ctrl-C)
STOPPING = "stopping"          # the target is being stopped (interrupt or --fail-fast)
ESCALATE = "escalate"          # signal (SIGTERM|SIGKILL): the grace ran out, or a second Ctrl-C
TIMEOUT = "timeout"            # seconds: the run reached its time limit
LOCK_WAIT = "lock_wait"        # holder ({host, pid, command_id} or None), timeout_s
ABANDONED = "abandoned"        # target "*": run_id, why (an earlier run whose wrapper died, swept)
WARNING = "warning"            # message

NAMES = (START, FINISH, RETRY, INTERRUPT, STOPPING, ESCALATE, TIMEOUT, LOCK_WAIT, ABANDONED, WARNING)
COMMAND = "*"                  # the target of command-wide events


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a run, as the console shows it."""

    name: str
    target: str
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, *keys: str, default: Any = None) -> Any:
        """The first of ``keys`` present (fields have had more than one spelling)."""
        for key in keys:
            if self.fields.get(key) is not None:
                return self.fields[key]
        return default


def encode(name: str, **fields: Any) -> str:
    """The observer line for event ``name`` (what ``Session.emit`` passes with stream "event")."""
    if not fields:
        return name
    return f"{name}:{json.dumps(fields, separators=(',', ':'), default=str)}"


def decode(target: str, line: str) -> Event:
    """An event line back into an :class:`Event` (unknown or malformed details become no fields)."""
    name, _, detail = line.partition(":")
    name = name.replace("-", "_")
    fields: dict[str, Any] = {}
    if detail.startswith("{"):
        try:
            loaded = json.loads(detail)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            fields = loaded
    elif detail:
        # The scalar forms: "start:<attempt>", "finish:<status>".
        if name == START:
            fields = {"attempt": int(detail)} if detail.isdigit() else {}
        elif name == FINISH:
            fields = {"status": detail}
        else:
            fields = {"detail": detail}
    return Event(name, target, fields)


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):g}s"
    except (TypeError, ValueError):
        return "?s"


def _holder(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"host {value['host']}" if value.get("host") else "",
                 f"pid {value['pid']}" if value.get("pid") else "",
                 f"command {value['command_id']}" if value.get("command_id") else ""]
        return ", ".join(p for p in parts if p) or "another build"
    return str(value) if value else "another build"


def interrupt_message(e: Event) -> tuple[str, str]:
    """What a person reads when Ctrl-C or SIGTERM arrives (the first, or a second one: ``kill``)."""
    if e.get("kill") or e.get("reason") == "second-interrupt":
        return "second interrupt: killing Packer now (SIGKILL), without waiting for its cleanup", "bold red"
    grace = e.get("grace_s", "grace")
    wait = f"; waiting up to {_seconds(grace)} for Packer to clean up" if grace is not None else ""
    what = "SIGTERM received" if e.get("signal") == "SIGTERM" else "interrupt received"
    return f"{what}: stopping Packer (SIGINT){wait}. Press Ctrl-C again to stop now.", "bold yellow"


def message(e: Event) -> tuple[str, str] | None:
    """The line a person reads for ``e`` and its style, or None for events shown only as state."""
    if e.name == RETRY:
        of = e.get("of", "attempts")
        wait = float(e.get("wait_s", "wait", default=0))
        return (f"attempt {e.get('attempt', default='?')}{f'/{of}' if of else ''} failed "
                f"({e.get('category', default='unknown')}, retryable); retrying in {wait:.1f}s", "yellow")
    if e.name == INTERRUPT:
        return interrupt_message(e)
    if e.name == ESCALATE:
        sig = e.get("signal", default="SIGKILL")
        tail = "; it may leave temporary VMs behind" if sig == "SIGKILL" else ""
        return f"Packer still running: {sig} sent{tail}", "red"
    if e.name == TIMEOUT:
        return f"timed out after {_seconds(e.get('seconds'))}: stopping Packer", "yellow"
    if e.name == LOCK_WAIT:
        limit = e.get("timeout_s", "timeout")
        return (f"waiting{f' up to {_seconds(limit)}' if limit is not None else ''} for the build lock "
                f"held by {_holder(e.get('holder'))}", "yellow")
    if e.name == ABANDONED:
        why = f" ({e.get('why')})" if e.get("why") else ""
        return f"run {e.get('run_id', default='?')} was abandoned{why}; its leftovers were cleaned up", "dim"
    if e.name == WARNING and e.get("message"):
        return f"warning: {e.get('message')}", "yellow"
    return None
