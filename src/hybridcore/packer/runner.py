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
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore import gcpause
from hybridcore.files import private_dir
from hybridcore.ids import new_ulid
from hybridcore.logs import EventLog, now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer import driftcheck, preflight, results, sweep
from hybridcore.packer.attempt import AttemptOutcome, run_attempt
from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.config import Project
from hybridcore.packer.plan import Kind, TargetPlan, env_name
from hybridcore.packer.process import Cancel
from hybridcore.packer.session import Observer, RunOptions, Session
from hybridcore.packer.status import Status
from hybridcore.state import StateStore
from hybridcore.state.errors import LockTimeout

if TYPE_CHECKING:
    from hybridcore.packer.classify import Rule
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
    events = EventLog(project.state_dir / "logs" / f"{command_id}.jsonl", command_id,
                      max_line_bytes=project.log_max_mb << 20)
    try:
        store = StateStore.for_root(project.root)
        try:
            # An unwritable, full, locked, corrupt or too-new state store, or a bad [[classify.rules]]
            # entry, stops the command here, before Packer runs, not after.
            preflight.check_state(store, project.state_dir)
            rules = _rules(project)
            s = Session(kind, project, packer, options or RunOptions(), command_id, env, started_at,
                        events, store, observer, Cancel(), rules)
            sweep.sweep(store, lambda name, fields: s.emit("*", name, logging.WARNING, **fields))
            return _run(s, plans)
        finally:
            store.close()
    finally:
        events.close()


def _rules(project: Project) -> Sequence[Rule] | None:
    """The project's own classification rules, loaded (and refused if bad) before Packer runs; the
    built-in catalogue loads with the classifier while Packer runs."""
    if not project.classify_rules:
        return None
    from hybridcore.packer.classify import load_rules

    return load_rules(project.classify_rules)


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
    if s.kind != "build":
        results.record_started(s, plans)  # a build's row is written once it holds the build lock
    _preload(s.packer_started)
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
    results.record_refused(s, [c.plan for c in drifted], driftcheck.refused())
    raise driftcheck.refusal(drifted, s.env)


def _preload(packer_started: threading.Event) -> None:
    """Import what every run needs only once Packer exits (the records, the classifier) while Packer
    runs: Packer is another process, so this overlaps with it. It starts once Packer has (or after
    1 s): before, its imports would hold the GIL the worker needs to start Packer.

    The rule catalogue itself is not loaded here: only a failed run reads it (an exit 0 is classified
    without it), and parsing rules.toml cost every successful validate ~15 ms of CPU on a machine
    where Packer wants both cores (bench/startup.py: CPU 529 -> 471 ms median, wall 435 -> 426 ms,
    under load); a failure pays it once Packer has exited."""
    def work() -> None:
        packer_started.wait(1.0)
        gcpause.resume()  # the console script's start-up is over (see gcpause)
        # An error here is not lost: whoever needs these next loads them again and meets it there.
        with contextlib.suppress(Exception):
            import hybridcore.packer.classify
            import hybridcore.packer.records  # noqa: F401

    threading.Thread(target=work, name="hybridcore-preload", daemon=True).start()


def _run_targets(s: Session, plans: Sequence[TargetPlan], fingerprints: Mapping[str, Fingerprint],
                 ) -> list[results.Finished]:
    # fmt rewrites files in place and is instant: serial. validate and build run targets in parallel.
    workers = 1 if s.kind == "fmt" else max(1, min(len(plans), s.options.parallel or os.cpu_count() or 1))
    with _signals_to(s.cancel) as received, \
            cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hybridcore-target") as pool:
        futures = [pool.submit(_run_target, s, plan, fingerprints.get(plan.target.name)) for plan in plans]
        pending = set(futures)
        while pending:
            try:
                done, pending = cf.wait(pending, timeout=_POLL_S, return_when=cf.FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Ctrl-C off the main thread's handler (a library caller's own): same as a signal.
                s.cancel.request()
                received.append(signal.SIGINT)
                done = set()
            while received:
                _announce(s, received.pop(0), plans, futures, pending)
            if s.options.fail_fast and any(f.result().result.status != Status.OK for f in done):
                s.fail_fast_tripped = True
                if not s.cancel.interrupt.is_set():
                    for plan, f in zip(plans, futures, strict=True):
                        if f in pending:
                            s.emit(plan.target.name, "stopping", logging.WARNING)
                s.cancel.interrupt.set()
        return [f.result() for f in futures]


_POLL_S = 0.2   # how often the waiting thread looks at signals received


def _announce(s: Session, sig: signal.Signals, plans: Sequence[TargetPlan], futures: Sequence[Any],
              pending: set[Any]) -> None:
    s.operator_stopped = True
    kill = s.cancel.kill.is_set()
    s.emit("*", "interrupt", logging.WARNING, signal=sig.name, grace_s=s.project.kill_grace, kill=kill,
           message="interrupt requested" if not kill else "second interrupt: killing Packer now")
    if not kill:
        for plan, future in zip(plans, futures, strict=True):
            if not _ended_on_its_own(future, pending):  # a target that had already ended is not stopping
                s.emit(plan.target.name, "stopping", logging.WARNING)


def _ended_on_its_own(future: cf.Future[results.Finished], pending: set[Any]) -> bool:
    """Whether a target ended before the interrupt. One that ended *because* of it (the signal stops
    Packer at once, which can be before this thread looks) is interrupted, and was stopping."""
    if future in pending:
        return False
    return future.exception() is not None or future.result().result.status != Status.INTERRUPTED


@contextlib.contextmanager
def _signals_to(cancel: Cancel) -> Iterator[list[signal.Signals]]:
    """While targets run, SIGINT and SIGTERM become ``cancel.request(sig)`` (on the main thread only,
    where Python runs handlers); the handler only records, the waiting loop announces."""
    received: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        cancel.request(sig)
        received.append(sig)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _run_target(s: Session, plan: TargetPlan, fingerprint: Fingerprint | None) -> results.Finished:
    base_dir = private_dir(s.run_root / plan.target.slug)
    try:
        return _locked_attempts(s, plan, fingerprint, base_dir)
    except BaseException as exc:
        results.record_crashed(s, plan, base_dir, exc)  # the row must not stay `running`
        raise


def _locked_attempts(s: Session, plan: TargetPlan, fingerprint: Fingerprint | None,
                     base_dir: Path) -> results.Finished:
    if s.kind != "build":
        return _attempts(s, plan, fingerprint, base_dir)
    try:
        lock = _take_lock(s, plan)
    except LockTimeout as exc:
        return results.finish_locked(s, plan, exc, base_dir)
    with lock:
        # The lock first, then the row: a sweep must never take a run waiting for its lock for a dead one.
        results.record_started(s, [plan])
        return _attempts(s, plan, fingerprint, base_dir)


def _take_lock(s: Session, plan: TargetPlan) -> contextlib.AbstractContextManager[Any]:
    """The build lock of (target, env), waiting up to --lock-timeout (in slices, so Ctrl-C still works)."""
    name = plan.target.name
    try:
        return s.store.build_lock(name, s.env, timeout_s=0, command_id=s.command_id)
    except LockTimeout as exc:
        if s.options.lock_timeout <= 0:
            raise
        holder = {k: (exc.holder or {}).get(k) for k in ("host", "pid", "command_id")} if exc.holder else None
        s.emit(name, "lock_wait", logging.WARNING, holder=holder, timeout_s=s.options.lock_timeout,
               message=f"waiting up to {s.options.lock_timeout:g}s for the build lock: {exc.message}")
    deadline = time.monotonic() + s.options.lock_timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return s.store.build_lock(name, s.env, timeout_s=max(0.0, min(left, 1.0)), command_id=s.command_id)
        except LockTimeout as exc:
            if left <= 1.0 or s.cancel.interrupt.is_set():
                raise LockTimeout(name, s.env, exc.holder, s.options.lock_timeout) from None


def _attempts(s: Session, plan: TargetPlan, fingerprint: Fingerprint | None, base_dir: Path) -> results.Finished:
    """Attempts until one succeeds, fails for good, or the retries run out; then record the target."""
    attempts: list[AttemptOutcome] = []
    manifest = None
    for n in range(1, s.options.retries + 2):
        run_dir = base_dir if n == 1 else private_dir(base_dir / f"attempt-{n}")
        last = run_attempt(s, plan, n, run_dir)
        manifest = results.write_attempt(s, plan, last)
        attempts.append(last)
        if not last.retryable or n > s.options.retries or s.cancel.interrupt.is_set():
            break
        category = last.classification.category
        wait = _backoff(s.project, category, n, last.process.stdout + last.process.stderr)
        s.emit(plan.target.name, "retry", logging.WARNING, attempt=n, of=s.options.retries + 1, category=category,
               wait_s=round(wait, 3), message=f"retryable failure ({category}); retrying in {wait:.1f}s")
        if s.cancel.interrupt.wait(wait):
            # Interrupted while waiting: no new Packer run; the target ends interrupted.
            return results.finish_target(s, plan, fingerprint, attempts, manifest, base_dir, interrupted=True)
    return results.finish_target(s, plan, fingerprint, attempts, manifest, base_dir)


def _backoff(project: Project, category: str, failures: int, output: str) -> float:
    """Seconds before the next attempt: the category's policy (throttling waits longer than a network
    blip), scaled by [build] backoff_initial (5 s = the policy as written), capped by [build] backoff_max
    unless Packer printed a Retry-After style hint, which is honoured."""
    # Imported here: only a retry needs the policies, and they load the rule catalogue (~8 ms before
    # Packer could start, measured with -X importtime).
    from hybridcore.packer.retry_policy import retry_after_hint, retry_delay

    wait = retry_delay(category, failures, output=output, u=random.random(), scale=project.backoff_initial / 5.0)
    hint = retry_after_hint(output) or 0.0
    return max(0.0, min(wait, max(project.backoff_max, hint)))
