"""The values every phase of upgrade-check shares: the two binaries and what one step did under one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Label = Literal["A", "B"]
Step = Literal["fmt", "validate", "build"]
STEPS: tuple[Step, ...] = ("fmt", "validate", "build")


@dataclass(frozen=True, slots=True)
class BinaryInfo:
    label: Label
    path: str
    version: str
    satisfies_pin: bool | None          # None when the project pins no version

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did under one binary: Packer's result, or the refusal hybridcore raised."""

    step: Step
    status: str                         # CommandResult status, or "error" for a HybridcoreError
    exit_code: int
    category: str | None = None         # the failure classification, or the exception class
    message: str | None = None          # a refusal's message, or the tail of a failing step's output

    @property
    def signature(self) -> str:
        """What must match between A and B. The category is left out on purpose for Packer failures:
        a new release may word the same error differently, which is not a behaviour change."""
        base = f"{self.status} (exit {self.exit_code})"
        return f"{base} {self.category}" if self.status == "error" else base

    @property
    def short(self) -> str:
        return self.status if self.status != "error" else f"error:{self.category}"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "signature": self.signature}


@dataclass(frozen=True, slots=True)
class TargetRun:
    """Everything one target did under one binary."""

    outcomes: tuple[StepOutcome, ...]
    records: dict[str, Any]             # normalised manifest / template manifest / artifact records
