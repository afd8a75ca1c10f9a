"""State errors beyond ``hybridcore.errors.StateError`` (which another module owns): the ones a caller
maps to a different exit code or category.

- ``StateUnavailable``: the database cannot be reached now (connection refused or lost, server starting
  or shutting down, too many connections, SQLite busy past its timeout). ``unavailable`` is True, exit 75,
  category ``state-unavailable``. Every other ``StateError`` (malformed URL, failed authentication, missing
  database or driver, corrupt or newer schema) has ``unavailable`` False: exit 2.
- ``LockTimeout``: a build lock on (target, env) stayed held by someone else past the timeout; names the
  holder. Exit 75, category ``locked``, not retryable.
- ``UnknownArtifact``: promote/revoke of a build id that names no record (exit 2: bad input).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hybridcore.errors import HybridcoreError, StateError


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the state database is unreachable right now (exit 75), not misconfigured."""
    return bool(getattr(exc, "unavailable", False))


class StateUnavailable(StateError):
    exit_code: ClassVar[int] = 75
    category: ClassVar[str] = "state-unavailable"
    unavailable: ClassVar[bool] = True
    default_hint = "check that the state database is up and reachable from this machine, then retry"


class UnknownArtifact(StateError):
    default_hint = "list the records with 'hybridcore-packer artifacts' and give a build id (or a prefix) of one"


class LockTimeout(HybridcoreError):
    """The build lock on (target, env) is held by another build; ``holder`` says whose (may be None when
    the holder had not recorded itself yet)."""

    exit_code: ClassVar[int] = 75
    category: ClassVar[str] = "locked"
    retryable: ClassVar[bool] = False
    default_hint = "wait for the other build to finish, or give a longer --lock-timeout"

    def __init__(self, target: str, env: str, holder: Mapping[str, Any] | None, waited_s: float) -> None:
        self.target, self.env, self.waited_s = target, env, waited_s
        self.holder: dict[str, Any] | None = dict(holder) if holder else None
        super().__init__(f"target {target!r} (env {env!r}) is being built by {describe_holder(self.holder)}; "
                         f"gave up after {waited_s:.1f}s")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes despite the custom __init__
        return (type(self), (self.target, self.env, self.holder, self.waited_s))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "category": self.category, "target": self.target, "env": self.env,
                "holder": self.holder}


def describe_holder(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "another runner (holder not recorded yet)"
    if not holder.get("host"):
        return f"PostgreSQL session {holder.get('backend_pid')} (holder not recorded yet)"
    return (f"host {holder.get('host')}, pid {holder.get('pid')}, command {holder.get('command_id') or '?'}"
            f" (since {holder.get('acquired_at')})")
