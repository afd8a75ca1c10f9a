"""The Packer upgrade playbook as a command: smoke-build with two Packer binaries and diff the results.

``upgrade_check(A, B, targets)`` copies the project twice into throw-away sandboxes (one per binary,
each with its own state, trust, cache and artifact folder), runs ``fmt -check``, ``validate`` and
``build`` of each smoke target under both, normalises what the builds recorded (manifests and artifact
records) so that only behaviour is left, and diffs A against B. The result is a report for the pull
request that changes the pinned Packer version: ``report.md`` (human, with a sign-off checklist) and
``report.json`` (machine), both in the report folder.

The project itself is never touched: the sandboxes live in the system temp folder, the real
``.hybridcore/state.db``, ``artifacts/`` and cache are never opened, and the only thing written under
the project root is the report folder (by default ``.hybridcore/upgrade/<ULID>/``).

Modules, in the order a check uses them: ``sandbox`` (the isolated copies), ``smoke`` (the steps under
one binary), ``progress`` (events as it goes), ``compare`` (normalise and diff), ``report`` (verdict,
sign-offs, Markdown/JSON); ``outcomes`` holds the values they share.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hybridcore.errors import ConfigError
from hybridcore.logs import now_iso
from hybridcore.packer import binary as binmod
from hybridcore.packer.config import Project, Target, load_project
from hybridcore.packer.upgrade.compare import (
    ROOT_TOKEN,
    VOLATILE_KEYS,
    Difference,
    TargetComparison,
    collect_records,
    compare_runs,
    diff,
    normalise,
)
from hybridcore.packer.upgrade.outcomes import STEPS, BinaryInfo, Label, Step, StepOutcome
from hybridcore.packer.upgrade.progress import ProgressCallback, ProgressEvent, progress_line
from hybridcore.packer.upgrade.report import KNOWN_CHANGES, SignOff, UpgradeReport, crossed_changes, notes, signoffs
from hybridcore.packer.upgrade.sandbox import is_under, isolated_env, make_sandbox, reroot_path, reroot_target
from hybridcore.packer.upgrade.smoke import run_sandbox

__all__ = [
    "KNOWN_CHANGES", "ROOT_TOKEN", "STEPS", "VOLATILE_KEYS", "BinaryInfo", "Difference", "ProgressCallback",
    "ProgressEvent", "SignOff", "Step", "StepOutcome", "TargetComparison", "UpgradeReport",
    "collect_records", "crossed_changes", "diff", "make_sandbox", "normalise", "progress_line",
    "reroot_path", "reroot_target", "upgrade_check",
]


def upgrade_check(from_bin: str, to_bin: str, targets: Sequence[str] | None, *,
                  project: Project | str | Path | None = None, report_dir: Path | None = None,
                  keep_sandboxes: bool = False,
                  on_progress: ProgressCallback | None = None) -> UpgradeReport:
    """Smoke-build ``targets`` (default: ``smoke = true`` ones, else all) with Packer ``from_bin`` (A)
    and ``to_bin`` (B), each in its own sandbox copy of the project, and write the report.

    Bad input (unknown target, Packer not found, a template outside the project) raises before any
    Packer runs; a step that hybridcore refuses (e.g. drift) is recorded as that step's outcome.
    ``on_progress`` is called on this thread with a :class:`ProgressEvent` when each sandbox is created
    and before and after each step of each target (A's targets first, then B's); format one with
    :func:`progress_line`.
    """
    from hybridcore.ids import new_ulid

    proj = project if isinstance(project, Project) else load_project(project)
    chosen = _choose_targets(proj, targets)
    for t in chosen:
        if not is_under(t.template, proj.root):
            raise ConfigError(f"target {t.name!r}: template {t.template} is outside the project {proj.root}",
                              hint="upgrade-check builds in a copy of the project folder; move the "
                                   "template into it")
    pin = proj.packer_version
    a = _binary("A", from_bin, pin)
    b = _binary("B", to_bin, pin)

    report_id = new_ulid()
    out_dir = (Path(report_dir) if report_dir is not None
               else proj.state_dir / "upgrade" / report_id).resolve()
    excludes = [out_dir]
    if proj.cache_dir is not None:
        excludes.append(proj.cache_dir.resolve())

    work = Path(tempfile.mkdtemp(prefix=f"hybridcore-upgrade-{report_id}-")).resolve()
    try:
        with isolated_env():
            runs = {info.label: run_sandbox(proj, chosen, info, work / info.label, excludes, on_progress)
                    for info in (a, b)}
    finally:
        if not keep_sandboxes:
            shutil.rmtree(work, ignore_errors=True)

    comparisons = tuple(compare_runs(t.name, runs["A"][t.name], runs["B"][t.name]) for t in chosen)
    report = UpgradeReport(
        id=report_id, created_at=now_iso(), project_root=str(proj.root), pin=pin, a=a, b=b,
        targets=comparisons, signoffs=signoffs(a, b, pin, comparisons), notes=notes(a, b),
        report_dir=out_dir, sandboxes=(str(work / "A"), str(work / "B")) if keep_sandboxes else (),
    )
    report.write()
    return report


def _choose_targets(proj: Project, names: Sequence[str] | None) -> list[Target]:
    if names:
        return proj.resolve(list(names))
    smoke = [t for t in proj.targets.values() if t.smoke]
    return smoke or proj.resolve(None)


def _binary(label: Label, name: str, pin: str | None) -> BinaryInfo:
    path = binmod.locate(name)
    # The project's pin is deliberately not enforced here (checking a candidate outside the pin is the
    # whole point); whether B satisfies it becomes a sign-off item instead.
    found = binmod.discover(path, None)
    return BinaryInfo(label=label, path=found.path, version=found.version,
                      satisfies_pin=binmod.satisfies(found.version, pin) if pin else None)
