"""The smoke steps under one binary: ``fmt -check``, ``validate`` and ``build`` of each target, in its
own sandbox, with a progress event before and after each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridcore.errors import HybridcoreError
from hybridcore.packer.config import Project, Target
from hybridcore.packer.records import TargetResult
from hybridcore.packer.upgrade.compare import collect_records, replace_roots
from hybridcore.packer.upgrade.outcomes import STEPS, BinaryInfo, Step, StepOutcome, TargetRun
from hybridcore.packer.upgrade.progress import ProgressCallback, announce
from hybridcore.packer.upgrade.sandbox import make_sandbox

_TAIL_LINES = 15     # of a failing step's output, into the report


def run_sandbox(project: Project, targets: Sequence[Target], info: BinaryInfo, dest: Path,
                excludes: Sequence[Path], on_progress: ProgressCallback | None = None) -> dict[str, TargetRun]:
    """Copy the project to ``dest`` and run every step of every target there with ``info``'s Packer.

    A step hybridcore refuses is recorded as that step's outcome and the next step runs anyway; an
    interrupted step (Ctrl-C, SIGTERM) raises KeyboardInterrupt and so stops the whole check."""
    with announce(on_progress, info.label, info.version, "sandbox") as done:
        sandbox = make_sandbox(project, targets, dest, info.path, excludes)
        done.status = "ok"
    roots = (sandbox.root, project.root)
    out: dict[str, TargetRun] = {}
    for name in sandbox.targets:
        outcomes: list[StepOutcome] = []
        records: dict[str, Any] = {}
        for step in STEPS:
            with announce(on_progress, info.label, info.version, step, name) as done:
                outcome, result = _run_step(step, name, sandbox, roots)
                done.status = outcome.status
                if step == "build" and result is not None:
                    records = collect_records(result.manifest_path, result.template_manifest_path,
                                              [a.to_dict() for a in result.artifacts], roots)
            outcomes.append(outcome)
        out[name] = TargetRun(tuple(outcomes), records)
    return out


def _run_step(step: Step, name: str, sandbox: Project,
              roots: Sequence[Path]) -> tuple[StepOutcome, TargetResult | None]:
    from hybridcore.packer import api

    try:
        if step == "fmt":
            result = api.fmt([name], check=True, project=sandbox)
        elif step == "validate":
            # Also what makes the build below trusted, inside this sandbox's own state.
            result = api.validate([name], project=sandbox)
        else:
            result = api.build([name], project=sandbox)
    except HybridcoreError as exc:
        return StepOutcome(step, "error", exc.exit_code, type(exc).__name__,
                           replace_roots(exc.message, roots)), None
    t = result.targets[0]
    if t.status == "interrupted":
        # Ctrl-C / SIGTERM: the wrapper stopped Packer and recorded it; stop the whole check (the
        # progress event says "interrupted", the sandboxes are removed and the environment restored
        # on the way out).
        raise KeyboardInterrupt
    detail = None if t.status == "ok" else replace_roots(_tail(t.stdout + "\n" + t.stderr), roots)
    return StepOutcome(step, t.status, t.exit_code, t.classification.category, detail), t


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
