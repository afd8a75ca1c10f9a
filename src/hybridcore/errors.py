"""One exception family for everything hybridcore refuses to do, and the one exit-code table.

Every error carries a one-line ``hint`` telling the operator what to do next and the exit code it
maps to, so the CLI can print it without a traceback. Failures of Packer itself are *returned* in a
``CommandResult`` (whose ``exit_code`` comes from the same table); these exceptions are for bad input
and refusals, raised before Packer starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """The process exit codes of DESIGN.md; ``exit_code`` in every result is one of these."""

    OK = 0
    FAILED = 1          # hard-stop failure: retrying would fail again
    USAGE = 2           # bad input or a refusal before anything ran
    UNFORMATTED = 3     # ``fmt --check`` found files to rewrite (Packer's own code for it)
    DRIFT = 4           # ``build`` refused, or ``drift`` found some
    RETRYABLE = 75      # transient failure, retries exhausted (sysexits EX_TEMPFAIL)
    INTERRUPTED = 130   # Ctrl-C or SIGTERM (shell convention 128 + SIGINT)


class HybridcoreError(Exception):
    """Base class: a clear message, a remediation hint, and the exit code."""

    exit_code: ClassVar[int] = ExitCode.USAGE
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint,
                "exit_code": self.exit_code}


class ConfigError(HybridcoreError):
    """hybridcore.toml is unreadable, has a syntax error, or holds a value of the wrong type."""

    default_hint = "fix hybridcore.toml; see README 'Project file' for the keys"


class UnknownTarget(HybridcoreError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = sorted(known)
        listed = ", ".join(names) if names else "(none declared)"
        super().__init__(
            f"unknown target {name!r}; known targets: {listed}",
            hint="use a target declared under [targets.NAME] in hybridcore.toml, or a template path",
        )
        self.name = name
        self.known = names


class TemplateNotFound(HybridcoreError):
    default_hint = "check the target's 'template' key (relative to hybridcore.toml) or the path given"


class TemplateError(HybridcoreError):
    """A template could not be parsed well enough to find its variables and assets."""

    default_hint = "run 'hybridcore-packer validate' on it to see Packer's own diagnostics"


class MalformedVar(HybridcoreError):
    default_hint = "pass variables as --var NAME=VALUE (NAME: letters, digits, '_' and '-')"


class PackerNotFound(HybridcoreError):
    default_hint = (
        "install Packer (Debian: 'apt-get install packer') or set [packer] binary in hybridcore.toml"
    )


class PackerVersionError(HybridcoreError):
    default_hint = "install a Packer that satisfies [packer] version, or relax the constraint"


class StateError(HybridcoreError):
    """The state store is corrupt, newer than this hybridcore, or unreachable."""

    default_hint = (
        "move the state file aside (it is never deleted for you) and run 'hybridcore-packer validate' "
        "to re-establish trust"
    )


class CacheError(HybridcoreError):
    default_hint = "run 'hybridcore-packer cache verify' and 'cache prune' to repair the shared cache"


class DriftDetected(HybridcoreError):
    """``build`` refused: the inputs differ from what was last trusted for this target and env."""

    exit_code = ExitCode.DRIFT
    default_hint = "review the diff, then run 'hybridcore-packer validate' to trust the new inputs"

    def __init__(self, message: str, *, diff: Mapping[str, Any], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.diff: dict[str, Any] = dict(diff)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "diff": self.diff}
