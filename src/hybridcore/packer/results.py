"""What a command leaves behind: run rows, run-folder files, manifests, artifact records, trust, results.

Every write after planning goes through here, each once and from memory: an attempt's manifest is
built from the artifacts Packer announced and written, never read back; records are validated once
from redacted values. This is the only writer of run rows: ``running`` and ``refused`` from the calling
thread before any worker starts, the final row from the worker that ran the target (so a Ctrl-C,
which lands on the calling thread, never cuts a record in half). Exit codes come from ``status``.

The records (``records``: plain frozen dataclasses, no pydantic) load on first use.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.files import atomic_write_json
from hybridcore.logs import now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer.attempt import AttemptOutcome
from hybridcore.packer.console.packer_errors import error_lines
from hybridcore.packer.plan import TargetPlan
from hybridcore.packer.secrets import PACKER_IDENTIFIERS
from hybridcore.packer.session import Session
from hybridcore.packer.status import Status, exit_code_for, worst
from hybridcore.state.common import this_process
from hybridcore.state.errors import LockTimeout

if TYPE_CHECKING:
    from hybridcore.packer import records as rec
    from hybridcore.packer.classify import Classification
    from hybridcore.packer.fingerprint import Fingerprint


@dataclass(frozen=True, slots=True)
class Finished:
    """One target's result and, for a build, its manifest (kept in memory for the command's merge)."""

    result: rec.TargetResult
    manifest: dict[str, Any] | None


# ------------------------------------------------------------------------------------------- run rows


def _row(s: Session, plan: TargetPlan, *, attempt: int, run_dir: Path | None, status: Status,
         exit_code: int | None = None, classification: Classification | None = None,
         finished_at: str | None = None) -> dict[str, Any]:
    return {
        "id": f"{s.command_id}/{plan.target.slug}", "kind": s.kind, "target": plan.target.name,
        "env": s.env, "argv": plan.redactor.redact_record(list(plan.argv)), "exit_code": exit_code,
        "status": str(status), "category": classification.category if classification else None,
        "retryable": classification.retryable if classification else None,
        "hint": classification.hint if classification else None,
        "started_at": s.started_at, "finished_at": finished_at,
        "run_dir": str(run_dir) if run_dir is not None else None, "attempt": attempt,
        **this_process(),   # host, pid, boot id: how the abandoned-run sweep tells a dead wrapper
    }


def record_started(s: Session, plans: Sequence[TargetPlan]) -> None:
    """Every target's row as ``running``, before any Packer starts (a build: once it holds its lock)."""
    for plan in plans:
        s.store.record_run(_row(s, plan, attempt=1, run_dir=s.run_root / plan.target.slug,
                                status=Status.RUNNING))


def finish_locked(s: Session, plan: TargetPlan, exc: LockTimeout, base_dir: Path) -> Finished:
    """A build that never started: another build of (target, env) held the lock past --lock-timeout.
    A result (status failed, category ``locked``, exit 75), not an exception; never retried."""
    from hybridcore.packer import records as rec
    from hybridcore.packer.classify import Classification

    classification = Classification(retryable=False, category="locked", rule="build-lock",
                                    hint=f"{exc.message}; {exc.hint}")
    now = now_iso()
    result = rec.TargetResult(
        target=plan.target.name, command=plan.redactor(plan.command_line),
        argv=plan.redactor.value(list(plan.argv)), exit_code=int(LockTimeout.exit_code), status=Status.FAILED,
        stdout="", stderr=exc.message + "\n", run_dir=str(base_dir), started_at=s.started_at, finished_at=now,
        retryable=False, classification=classification,
    )
    atomic_write_json(base_dir / "result.json", result.to_dict())
    s.store.record_run(_row(s, plan, attempt=0, run_dir=base_dir, status=Status.FAILED,
                            exit_code=LockTimeout.exit_code, classification=classification, finished_at=now))
    return Finished(result, None)


def record_crashed(s: Session, plan: TargetPlan, base_dir: Path, exc: BaseException) -> None:
    """A target whose run broke inside the wrapper (not Packer's failure): its row ends now, not at
    the next command's sweep. Best effort: the state may be what broke."""
    from hybridcore.packer.classify import Classification

    interrupted = isinstance(exc, KeyboardInterrupt)
    classification = Classification(
        retryable=False, category="interrupted" if interrupted else "wrapper-error", rule="wrapper",
        hint="the command was interrupted" if interrupted else (
            f"the wrapper failed ({type(exc).__name__}); see the command's error, and the event log "
            f"for what ran"))
    status = Status.INTERRUPTED if interrupted else Status.FAILED
    with contextlib.suppress(Exception):
        row = s.store.get_run(f"{s.command_id}/{plan.target.slug}") or {}
        if row.get("status") not in (None, str(Status.RUNNING)):
            return  # the target had ended (e.g. the lock's release broke after): its row stays as it is
        s.store.record_run(_row(s, plan, attempt=int(row.get("attempt") or 0), run_dir=base_dir,
                                status=status, exit_code=exit_code_for(status, False),
                                classification=classification, finished_at=now_iso()))


def record_refused(s: Session, plans: Sequence[TargetPlan], classification: Classification) -> None:
    """Rows for targets whose build was refused before Packer ran."""
    now = now_iso()
    for plan in plans:
        s.store.record_run(_row(s, plan, attempt=0, run_dir=None, status=Status.REFUSED,
                                exit_code=exit_code_for(Status.REFUSED, False), classification=classification,
                                finished_at=now))


# ------------------------------------------------------------------------------------------- one target


def build_manifest(plan: TargetPlan, a: AttemptOutcome) -> dict[str, Any]:
    """The attempt's manifest in Packer's manifest post-processor format (redacted)."""
    run_uuid = _run_uuid(a.template_manifest) or str(uuid.uuid4())
    manifest: dict[str, Any] = plan.redactor.redact_record(
        artmod.build_manifest(a.artifacts, plan.info, plan.cwd, run_uuid), keep=PACKER_IDENTIFIERS)
    return manifest


def write_attempt(s: Session, plan: TargetPlan, a: AttemptOutcome) -> dict[str, Any] | None:
    """The attempt's own files (a build's manifests); returns its manifest, or None outside builds."""
    if s.kind != "build":
        return None
    if a.template_manifest is not None:
        atomic_write_json(a.run_dir / "template-manifest.json", a.template_manifest)
    manifest = build_manifest(plan, a)
    atomic_write_json(a.run_dir / "manifest.json", manifest)
    return manifest


def finish_target(s: Session, plan: TargetPlan, fingerprint: Fingerprint | None,
                  attempts: Sequence[AttemptOutcome], manifest: dict[str, Any] | None, base_dir: Path, *,
                  interrupted: bool = False) -> Finished:
    """Record a target's last attempt: artifacts, trust, manifest row, ``result.json``, the final row.

    ``interrupted``: the operator stopped the target between attempts; it ends interrupted, whatever
    the last attempt said."""
    from hybridcore.packer import records as rec
    from hybridcore.packer.classify import cancelled as classify_cancelled
    from hybridcore.packer.classify import interrupted as classify_interrupted

    last = attempts[-1]
    if interrupted:
        last = replace(last, status=Status.INTERRUPTED, classification=classify_interrupted())
    if last.status == Status.INTERRUPTED and s.fail_fast_tripped and not s.operator_stopped:
        last = replace(last, status=Status.CANCELLED, classification=classify_cancelled())
    target = plan.target
    artifacts: list[rec.ArtifactRecord] = []
    if last.artifacts:
        artifacts = _record_artifacts(s, plan, last, fingerprint, manifest)
    if last.status == Status.OK and fingerprint is not None and s.kind in ("validate", "build"):
        s.store.set_trusted(target.name, s.env, fingerprint.digest, fingerprint.to_entries(),
                            trusted_by=f"{s.command_id}/{target.slug}", reason=s.kind)
        s.events.event(target.name, "trusted", digest=fingerprint.digest, reason=s.kind)
    if manifest is not None:
        s.store.record_manifest(f"{s.command_id}/{target.slug}", target.name, manifest,
                                str(last.run_dir / "manifest.json"))
    finished = now_iso()
    result = rec.TargetResult(
        target=target.name, command=plan.redactor(plan.command_line),
        argv=plan.redactor.redact_record(list(plan.argv)), exit_code=int(last.exit_code),
        packer_exit_code=last.packer_exit_code, status=last.status,
        stdout=last.process.stdout, stderr=last.process.stderr,
        stdout_truncated=last.process.stdout_truncated, stderr_truncated=last.process.stderr_truncated,
        stdout_path=str(last.run_dir / "stdout.log"), stderr_path=str(last.run_dir / "stderr.log"),
        packer_log_path=str(last.run_dir / "packer.log"),
        manifest_path=str(last.run_dir / "manifest.json") if manifest is not None else None,
        template_manifest_path=(str(last.run_dir / "template-manifest.json")
                                if last.template_manifest is not None else None),
        run_dir=str(base_dir), artifacts=artifacts,
        started_at=attempts[0].process.started_at.isoformat(), finished_at=finished,
        retryable=last.retryable, classification=last.classification,
        errors=error_lines(last.process.stdout, last.process.stderr),
        attempts=[rec.Attempt(attempt=a.attempt, exit_code=int(a.exit_code), packer_exit_code=a.packer_exit_code,
                              status=a.status, classification=a.classification, run_dir=str(a.run_dir),
                              started_at=a.process.started_at.isoformat(),
                              finished_at=a.process.finished_at.isoformat(), signals=list(a.process.signals))
                  for a in attempts],
        signals=list(last.process.signals),
        fingerprint=fingerprint.digest if fingerprint else None,
    )
    atomic_write_json(base_dir / "result.json", result.to_dict())
    s.store.record_run(_row(s, plan, attempt=last.attempt, run_dir=base_dir, status=last.status,
                            exit_code=last.exit_code, classification=last.classification, finished_at=finished))
    return Finished(result, manifest)


def _record_artifacts(s: Session, plan: TargetPlan, a: AttemptOutcome, fingerprint: Fingerprint | None,
                      manifest: dict[str, Any] | None) -> list[rec.ArtifactRecord]:
    from hybridcore.packer import records as rec

    git_sha, git_dirty = artmod.git_state(plan.cwd)
    provenance = rec.Provenance(
        command_id=s.command_id, git_sha=git_sha, git_dirty=git_dirty, packer_version=s.packer.version,
        fingerprint=fingerprint.digest if fingerprint else None, env=s.env,
        started_at=a.process.started_at.isoformat(), finished_at=a.process.finished_at.isoformat(),
    )
    records = artmod.artifact_records(
        a.artifacts, target=plan.target, info=plan.info, cwd=plan.cwd, plain_vars=plan.split.plain,
        provenance=provenance, run_uuid=(manifest or {}).get("last_run_uuid"), redactor=plan.redactor)
    for record in records:
        data = record.to_dict()
        path = s.project.artifacts_dir / f"{record.build_id}.json"
        atomic_write_json(path, data)
        s.store.record_artifact(data)
        s.events.event(plan.target.name, "artifact", build_id=record.build_id, path=str(path),
                       builder_id=record.builder_id, image_ids=record.image_ids, at=now_iso())
    return records


def _run_uuid(template_manifest: Any) -> str | None:
    value = template_manifest.get("last_run_uuid") if isinstance(template_manifest, dict) else None
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------------------- the command


def command_result(s: Session, plans: Sequence[TargetPlan], finished: Sequence[Finished]) -> rec.CommandResult:
    """The response object, from every target's result; also ``<run>/result.json``."""
    from hybridcore.packer import records as rec

    results = [f.result for f in finished]
    # Targets stopped by --fail-fast are collateral: the command's outcome is the failure that tripped it.
    judged = [r for r in results if r.status != Status.CANCELLED] or results
    exit_code = worst(r.exit_code for r in judged)
    decisive = next(r for r in judged if r.exit_code == exit_code)
    failed = [r for r in results if r.status != Status.OK]
    if len(results) == 1:
        stdout, stderr = results[0].stdout, results[0].stderr
    else:
        stdout = "".join(f"==> {r.target} <==\n{r.stdout}" for r in results)
        stderr = "".join(f"==> {r.target} <==\n{r.stderr}" for r in results if r.stderr)
    manifest_path: str | None = None
    if s.kind == "build":
        manifest_path = results[0].manifest_path if len(results) == 1 else _merged_manifest(s, finished)
    result = rec.CommandResult(
        command=s.kind, command_id=s.command_id, env=s.env, packer_version=s.packer.version,
        exit_code=int(exit_code), status=decisive.status, stdout=stdout, stderr=stderr, manifest_path=manifest_path,
        artifacts=[a for r in results for a in r.artifacts], started_at=s.started_at, finished_at=now_iso(),
        retryable=bool(failed) and all(r.retryable for r in failed),
        classification=decisive.classification, targets=results,
        errors=[f"{r.target}: {e}" if len(results) > 1 else e for r in results for e in r.errors],
        warnings=[w for p in plans for w in p.warnings] + s.warnings, run_dir=str(s.run_root),
    )
    atomic_write_json(s.run_root / "result.json", result.to_dict())
    return result


def _merged_manifest(s: Session, finished: Sequence[Finished]) -> str:
    """One manifest for a multi-target build: every target's builds, each tagged with its target."""
    builds: list[Any] = []
    last_uuid = None
    for f in finished:
        if f.manifest is not None:
            builds.extend({**b, "custom_data": {**(b.get("custom_data") or {}), "target": f.result.target}}
                          for b in f.manifest["builds"])
            last_uuid = f.manifest.get("last_run_uuid") or last_uuid
    path = s.run_root / "manifest.json"
    atomic_write_json(path, {"builds": builds, "last_run_uuid": last_uuid})
    return str(path)
