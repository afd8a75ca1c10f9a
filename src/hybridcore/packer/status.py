"""How a target (or a whole command) ended, and the exit code that ending maps to.

``Status`` is the one vocabulary of run rows, attempts, target and command results. The exit codes
themselves are :class:`hybridcore.errors.ExitCode`; this module holds the only rule from one to the
other, so the API's ``exit_code`` and the CLI's process exit code cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from hybridcore.errors import ExitCode


class Status(StrEnum):
    RUNNING = "running"           # a run row whose target has not ended (never in a result)
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"   # Ctrl-C or SIGTERM
    CANCELLED = "cancelled"       # stopped by --fail-fast because another target failed
    TIMEOUT = "timeout"           # hybridcore's own wall-clock limit stopped Packer
    UNFORMATTED = "unformatted"   # fmt --check found files to rewrite
    REFUSED = "refused"           # build refused before Packer ran (drift)


# Which exit code wins when a command's targets ended differently: an interruption is what the
# operator asked for; a hard stop needs a person, so it outranks a failure a retry might fix.
_PRECEDENCE = (ExitCode.INTERRUPTED, ExitCode.FAILED, ExitCode.USAGE, ExitCode.RETRYABLE, ExitCode.DRIFT,
               ExitCode.UNFORMATTED, ExitCode.OK)


def exit_code_for(status: Status, retryable: bool) -> ExitCode:
    """The exit code of one target (or attempt) that ended with ``status``."""
    fixed = {Status.OK: ExitCode.OK, Status.INTERRUPTED: ExitCode.INTERRUPTED,
             Status.CANCELLED: ExitCode.INTERRUPTED,
             Status.UNFORMATTED: ExitCode.UNFORMATTED, Status.REFUSED: ExitCode.DRIFT}
    if status in fixed:
        return fixed[status]
    return ExitCode.RETRYABLE if retryable else ExitCode.FAILED


def worst(codes: Iterable[int]) -> ExitCode:
    """The exit code of a command whose targets ended with ``codes`` (``OK`` for none)."""
    present = set(codes)
    return next((code for code in _PRECEDENCE if code in present), ExitCode.OK)
