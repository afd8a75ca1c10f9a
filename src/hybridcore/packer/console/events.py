"""The events the runner tells the console about, and the one way to write and read them.

The runner calls its observer ``(target, "event", line)`` with ``line = "<name>"`` or
``"<name>:<detail>"``, ``detail`` a JSON object made by :func:`encode` (``start:2`` and ``finish:ok``,
the older scalar forms, are read too). ``target`` is ``"*"`` for the whole command. The names, fields
and the message each one becomes are listed in ``events.md`` beside this module; the console never
prints a message for an event it does not know (it is ignored), so emitting a new one is safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

START = "start"                # attempt (int), attempts (int, optional)
FINISH = "finish"              # status (str), exit_code, category (optional)
RETRY = "retry"                # attempt (the failed one), attempts (total), category, wait (s)
INTERRUPT = "interrupt"        # target "*": reason ("signal"|"sigterm"|"fail-fast"), grace (s), failed (target)
ESCALATE = "escalate"          # signal ("SIGTERM"|"SIGKILL"), after (s), reason ("grace"|"second-interrupt")
TIMEOUT = "timeout"            # seconds (the limit), grace (s before SIGTERM)
LOCK_WAIT = "lock-wait"        # holder (str: host, pid, command id), timeout (s)
LOCK_ACQUIRED = "lock-acquired"  # waited (s)
WARNING = "warning"            # message

NAMES = (START, FINISH, RETRY, INTERRUPT, ESCALATE, TIMEOUT, LOCK_WAIT, LOCK_ACQUIRED, WARNING)
COMMAND = "*"                  # the target of command-wide events


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    target: str
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def encode(name: str, **fields: Any) -> str:
    """The observer line for event ``name`` (what the runner passes as ``line`` with stream "event")."""
    if not fields:
        return name
    return f"{name}:{json.dumps(fields, separators=(',', ':'), default=str)}"


def decode(target: str, line: str) -> Event:
    """An event line back into an :class:`Event` (unknown or malformed details become no fields)."""
    name, _, detail = line.partition(":")
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


def message(event: Event) -> tuple[str, str] | None:
    """The line a person reads for ``event`` and its style, or None for events shown only as state."""
    e = event
    if e.name == RETRY:
        n, m = e.get("attempt", "?"), e.get("attempts")
        of = f"/{m}" if m else ""
        return (f"attempt {n}{of} failed ({e.get('category', 'unknown')}, retryable); "
                f"retrying in {float(e.get('wait', 0)):.1f}s", "yellow")
    if e.name == INTERRUPT:
        grace = _seconds(e.get("grace")) if e.get("grace") is not None else None
        wait = f"; waiting up to {grace} for Packer to clean up" if grace else ""
        if e.get("reason") == "fail-fast":
            failed = e.get("failed")
            who = f"{failed} failed" if failed else "a target failed"
            return f"--fail-fast: {who}; stopping the other targets{wait}", "yellow"
        what = "SIGTERM received" if e.get("reason") == "sigterm" else "interrupt received"
        return f"{what}: stopping Packer (SIGINT){wait}. Press Ctrl-C again to stop now.", "bold yellow"
    if e.name == ESCALATE:
        sig = e.get("signal", "SIGKILL")
        if e.get("reason") == "second-interrupt":
            return "second interrupt: stopping Packer now (SIGTERM, then SIGKILL), without waiting for its cleanup", \
                "bold red"
        after = f" {_seconds(e.get('after'))} after the last signal" if e.get("after") is not None else ""
        tail = "; it may leave temporary VMs behind" if sig == "SIGKILL" else ""
        return f"Packer still running{after}: {sig} sent{tail}", "red"
    if e.name == TIMEOUT:
        grace = f", up to {_seconds(e.get('grace'))} to clean up" if e.get("grace") is not None else ""
        return f"timed out after {_seconds(e.get('seconds'))}: stopping Packer (SIGINT{grace})", "yellow"
    if e.name == LOCK_WAIT:
        limit = f" up to {_seconds(e.get('timeout'))}" if e.get("timeout") is not None else ""
        return f"waiting{limit} for the build lock held by {e.get('holder', 'another run')}", "yellow"
    if e.name == LOCK_ACQUIRED and e.get("waited"):
        return f"build lock acquired after {_seconds(e.get('waited'))}", "dim"
    if e.name == WARNING and e.get("message"):
        return f"warning: {e.get('message')}", "yellow"
    return None
