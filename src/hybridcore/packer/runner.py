"""Running one command's planned targets: the session, drift refusal, the pool, retries.

``execute`` opens the command's event log and state store, refuses a drifted build before any Packer
starts, then runs the targets on worker threads (a bounded pool). The calling thread only waits, so a
Ctrl-C there becomes an orderly SIGINT to every Packer process group (through the shared ``Cancel``),
and ``--fail-fast`` does the same when a target fails. Each target retries retryable failures with
exponential backoff; every attempt is ``attempt.run_attempt``, every record ``results``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import random
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hybridcore.files import private_dir
from hybridcore.ids import new_ulid
from hybridcore.logs import EventLog, now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer import driftcheck, results
from hybridcore.packer.attempt import AttemptOutcome, run_attempt
from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.classify import classify, load_rules
from hybridcore.packer.config import Project
from hybridcore.packer.plan import Kind, TargetPlan, env_name
from hybridcore.packer.process import Cancel
from hybridcore.packer.session import Observer, RunOptions, Session
from hybridcore.packer.status import Status
from hybridcore.state import StateStore

if TYPE_CHECKING:
    from hybridcore.packer.fingerprint import Fingerprint
    from hybridcore.packer.records import CommandResult


def execute(kind: Kind, project: Project, packer: PackerBinary, plans: Sequence[TargetPlan], *,
            options: RunOptions | None = None, observer: Observer | None = None) -> CommandResult:
    """Run ``plans`` (at least one) as one command and record everything; Packer failures are returned."""
    env = env_name()
    command_id, started_at = new_ulid(), now_iso()
    artmod.git_state.cache_clear()  # provenance must reflect the repository as of this command
    private_dir(project.state_dir)
    private_dir(project.state_dir / "runs")
    events = EventLog(project.state_dir / "logs" / f"{command_id}.jsonl", command_id)
    try:
        store = StateStore.for_root(project.root)
        try:
            # A corrupt or too-new state store, or a bad [[classify.rules]] entry, stops the command
            # here, before Packer runs, not after.
            store.get_trusted(plans[0].target.name, env)
            rules = load_rules(project.classify_rules) if project.classify_rules else None
            return _run(Session(kind, project, packer, options or RunOptions(), command_id, env, started_at,
                                events, store, observer, Cancel(), rules), plans)
        finally:
            store.close()
    finally:
        events.close()


def _run(s: Session, plans: Sequence[TargetPlan]) -> CommandResult:
    for plan in plans:
        for warning in plan.warnings:
            s.events.event(plan.target.name, "warning", logging.WARNING, message=warning)
    fingerprints: dict[str, Fingerprint] = {}
    if s.kind in ("validate", "build"):
        fingerprints = {p.target.name: f for p, f in
                        zip(plans, driftcheck.fingerprints_of(s.project, s.packer, plans, s.env), strict=True)}
        for plan in plans:  # links out of the project: named like the plan's own warnings
            for note in driftcheck.notes_of(plan, fingerprints[plan.target.name]):
                s.warnings.append(note)
                s.events.event(plan.target.name, "warning", logging.WARNING, message=note)
    if s.kind == "build":
        _refuse_drifted(s, plans, [fingerprints[p.target.name] for p in plans])
        if s.options.use_cache:
            private_dir(s.cache_dir)
    results.record_started(s, plans)
    _preload()
    finished = _run_targets(s, plans, fingerprints)
    return results.command_result(s, plans, finished)


def _refuse_drifted(s: Session, plans: Sequence[TargetPlan], fingerprints: Sequence[Fingerprint]) -> None:
    drifted = [c for c in driftcheck.compare(s.store, plans, fingerprints, s.env) if not c.diff.clean]
    if not drifted:
        return
    for c in drifted:
        s.events.event(c.plan.target.name, "drift", logging.WARNING, message="build refused: inputs drifted",
                       diff=c.diff.to_dict(), digest=c.current.digest,
                       trusted_digest=c.trusted.digest if c.trusted else None)
    results.record_refused(s, [c.plan for c in drifted], driftcheck.REFUSED)
    raise driftcheck.refusal(drifted, s.env)


def _preload() -> None:
    """Load what is needed only once Packer exits (the pydantic records, the classification rules)
    while Packer runs: Packer is another process, so this overlaps for free (~80 ms of a warm
    ``validate``, measured with bench/overhead.py)."""
    def work() -> None:
        # An error here is not lost: whoever needs these next loads them again and meets it there.
        with contextlib.suppress(Exception):
            import hybridcore.packer.records  # noqa: F401

            classify("", 1)

    threading.Thread(target=work, name="hybridcore-preload", daemon=True).start()


def _run_targets(s: Session, plans: Sequence[TargetPlan], fingerprints: Mapping[str, Fingerprint],
                 ) -> list[results.Finished]:
    # fmt rewrites files in place and is instant: serial. validate and build run targets in parallel.
    workers = 1 if s.kind == "fmt" else max(1, min(len(plans), s.options.parallel or os.cpu_count() or 1))
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hybridcore-target") as pool:
        futures = [pool.submit(_run_target, s, plan, fingerprints.get(plan.target.name)) for plan in plans]
        pending = set(futures)
        while pending:
            try:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Ctrl-C (or SIGTERM mapped to it by the CLI): interrupt every Packer process group;
                # a second one skips the grace periods.
                s.cancel.request()
                s.events.event("*", "interrupt", logging.WARNING, message="interrupt requested")
                continue
            if s.options.fail_fast and any(f.result().result.status != Status.OK for f in done):
                s.fail_fast_tripped = True
                s.cancel.interrupt.set()
        return [f.result() for f in futures]


def _run_target(s: Session, plan: TargetPlan, fingerprint: Fingerprint | None) -> results.Finished:
    """Attempts until one succeeds, fails for good, or the retries run out; then record the target."""
    base_dir = private_dir(s.run_root / plan.target.slug)
    attempts: list[AttemptOutcome] = []
    manifest = None
    for n in range(1, s.options.retries + 2):
        run_dir = base_dir if n == 1 else private_dir(base_dir / f"attempt-{n}")
        last = run_attempt(s, plan, n, run_dir)
        manifest = results.write_attempt(s, plan, last)
        attempts.append(last)
        if not last.retryable or n > s.options.retries or s.cancel.interrupt.is_set():
            break
        wait = _backoff(s.project, n)
        s.events.event(plan.target.name, "retry", logging.WARNING, attempt=n, wait=round(wait, 3),
                       message=f"retryable failure ({last.classification.category}); retrying in {wait:.1f}s")
        if s.cancel.interrupt.wait(wait):
            # Interrupted while waiting: no new Packer run; the target ends interrupted.
            return results.finish_target(s, plan, fingerprint, attempts, manifest, base_dir, interrupted=True)
    return results.finish_target(s, plan, fingerprint, attempts, manifest, base_dir)


def _backoff(project: Project, failures: int) -> float:
    """Seconds before the next attempt: exponential from [build] backoff_initial, capped, plus jitter."""
    wait: float = project.backoff_initial * 2.0 ** (failures - 1) + random.uniform(0, project.backoff_jitter)
    return max(0.0, min(wait, project.backoff_max))
