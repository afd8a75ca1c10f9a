"""The three wrappers: plan every target, run Packer, record what happened.

``fmt``/``validate``/``build`` share one flow. Planning (argv, env, secrets, fingerprints) happens for
every target before any Packer process starts, so bad input and drift refuse the whole command
cleanly. Targets run on worker threads (a bounded pool); the calling thread only waits, so Ctrl-C
there becomes an orderly SIGINT to every Packer process group.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore import __version__
from hybridcore.errors import DriftDetected, HybridcoreError
from hybridcore.logs import EventLog, now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer import binary as binmod
from hybridcore.packer.config import Project, Target, load_project
from hybridcore.packer.files import atomic_write_json, private_dir
from hybridcore.packer.machine_readable import ArtifactCollector, RawArtifact, parse_line
from hybridcore.packer.plan import Kind, TargetPlan, env_name, plan_target
from hybridcore.packer.process import Cancel, ProcessOutcome, ProcessRequest
from hybridcore.packer.process import run as run_process
from hybridcore.packer.secrets import prepare_env

if TYPE_CHECKING:  # typing only: these load lazily to keep start-up lean
    from hybridcore.packer import records as rec
    from hybridcore.packer.classify import Classification
    from hybridcore.packer.fingerprint import DriftDiff, Fingerprint
    from hybridcore.state import StateStore

Observer = Callable[[str, str, str], None]        # (target, stream, redacted line)
_DIAGNOSTIC = re.compile(r"^(Error|\?{3,}): ", re.M)
_SEVERITY = {"ok": 0, "unformatted": 1, "failed": 3, "timeout": 2, "refused": 3, "interrupted": 4}


@dataclass
class _Command:
    kind: Kind
    project: Project
    packer: binmod.PackerBinary
    observer: Observer | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from hybridcore.ids import new_ulid

        self.command_id = new_ulid()
        artmod.git_state.cache_clear()  # provenance must reflect the repository as of this command
        self.env = env_name()
        self.started_at = now_iso()
        private_dir(self.project.state_dir)
        private_dir(self.project.state_dir / "runs")
        self.run_root = self.project.state_dir / "runs" / self.command_id
        self.events = EventLog(self.project.state_dir / "logs" / f"{self.command_id}.jsonl", self.command_id)
        self.cancel = Cancel()
        self._state: StateStore | None = None
        self._rules: Any = None
        self._preload: threading.Thread | None = None
        self._preload_error: BaseException | None = None
        self.fail_fast_tripped = False       # targets interrupted by --fail-fast, not by the operator
        self.extra_warnings: list[str] = []  # appended from worker threads (list.append is atomic)

    def preload(self, plans: list[TargetPlan]) -> None:
        """Import what is needed only after Packer exits (state, records, rules) while Packer runs,
        and record the runs as started. Packer is a separate process, so this overlaps for free."""
        def work() -> None:
            try:
                _work()
            except BaseException as exc:
                self._preload_error = exc

        def _work() -> None:
            import tenacity  # noqa: F401

            from hybridcore.packer import (
                records,  # noqa: F401
                registry,  # noqa: F401
            )

            self.classify("", 1)
            for plan in plans:
                self.state.record_run(_run_row(self, plan, 1, self.run_root / plan.target.slug,
                                               status="running"))

        self._preload = threading.Thread(target=work, name="hybridcore-preload", daemon=True)
        self._preload.start()

    def wait_preload(self) -> None:
        if self._preload is not None:
            self._preload.join()
        if self._preload_error is not None:
            raise self._preload_error

    @property
    def state(self) -> StateStore:
        if self._state is None:
            from hybridcore.state import StateStore

            self._state = StateStore.for_root(self.project.root)
        return self._state

    def classify(self, output: str, exit_code: int) -> Classification:
        from hybridcore.packer.classify import classify, load_rules

        if self._rules is None:
            self._rules = load_rules(self.project.classify_rules)
        return classify(output, exit_code, rules=self._rules)

    def close(self) -> None:
        self.events.close()
        if self._state is not None:
            self._state.close()


# ---------------------------------------------------------------------------------------------- public


def fmt(targets: str | Sequence[str] | None, *, check: bool = False, recursive: bool = True,
        diff: bool = False, project: Project | str | Path | None = None,
        observer: Observer | None = None) -> rec.CommandResult:
    """``packer fmt`` over each target's templates. ``check=True`` reports (exit 3) instead of writing."""
    proj, packer, chosen = _setup(project, targets)
    plans = [plan_target("fmt", proj, t, packer, fmt_check=check, fmt_diff=diff, fmt_recursive=recursive)
             for t in chosen]
    return _execute(_Command("fmt", proj, packer, observer), plans)


def validate(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None, *,
             var_files: Sequence[str | Path] | None = None,
             provisioners: Sequence[str | Path] | None = None,
             project: Project | str | Path | None = None,
             observer: Observer | None = None) -> rec.CommandResult:
    """``packer validate``; on success the target's current inputs become trusted for ``build``."""
    proj, packer, chosen = _setup(project, targets)
    plans = [plan_target("validate", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or ()) for t in chosen]
    return _execute(_Command("validate", proj, packer, observer), plans)


def build(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None,
          provisioners: Sequence[str | Path] | None = None, *,
          var_files: Sequence[str | Path] | None = None, force: bool = False, parallel: int | None = None,
          use_cache: bool = True, cache_dir: str | Path | None = None, retries: int | None = None,
          fail_fast: bool = False, timeout: float | None = None,
          project: Project | str | Path | None = None,
          observer: Observer | None = None) -> rec.CommandResult:
    """``packer build -machine-readable``, refused with :class:`DriftDetected` unless every target's
    inputs match what was last trusted (by ``validate`` or a successful build)."""
    proj, packer, chosen = _setup(project, targets)
    plans = [plan_target("build", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or (), force=force) for t in chosen]
    retries = proj.build_retries if retries is None else retries
    if retries < 0 or (parallel is not None and parallel < 1):
        raise HybridcoreError("retries must be >= 0 and parallel >= 1")
    cmd = _Command("build", proj, packer, observer, {
        "parallel": parallel, "use_cache": use_cache, "retries": retries, "fail_fast": fail_fast,
        "timeout": timeout,
        "cache_dir": Path(cache_dir).resolve() if cache_dir is not None else proj.default_cache_dir,
    })
    return _execute(cmd, plans)


@dataclass(frozen=True, slots=True)
class DriftReport:
    target: str
    env: str
    digest: str
    trusted_digest: str | None
    diff: dict[str, Any]
    clean: bool
    summary: str


def drift(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None, *,
          var_files: Sequence[str | Path] | None = None, provisioners: Sequence[str | Path] | None = None,
          project: Project | str | Path | None = None) -> list[DriftReport]:
    """Compare each target's inputs with its trusted record without running Packer."""
    proj, packer, chosen = _setup(project, targets)
    plans = [plan_target("build", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or ()) for t in chosen]
    from hybridcore.state import StateStore

    store = StateStore.for_root(proj.root)
    try:
        env = env_name()
        reports = []
        for plan, current in zip(plans, fingerprints_of(proj, packer, plans, env), strict=True):
            trusted, d = _compare(store, plan.target.name, env, current)
            reports.append(DriftReport(plan.target.name, env, current.digest,
                                       trusted.digest if trusted else None, d.to_dict(), d.clean, d.summary()))
        return reports
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- flow


def _setup(project: Project | str | Path | None, targets: str | Sequence[str] | None,
           ) -> tuple[Project, binmod.PackerBinary, list[Target]]:
    proj = project if isinstance(project, Project) else load_project(project)
    chosen = proj.resolve(targets)
    packer = binmod.discover(proj.packer_binary, proj.packer_version,
                             cache=proj.state_dir / "parsed" / "packer-version.json")
    return proj, packer, chosen


def fingerprints_of(proj: Project, packer: binmod.PackerBinary, plans: Sequence[TargetPlan],
                    env: str) -> list[Fingerprint]:
    """Each plan's fingerprint, in order, through one stat cache (loaded and saved once per command)."""
    from hybridcore.packer import fingerprint as fp
    from hybridcore.packer.statcache import StatCache

    cache = StatCache(proj.state_dir / "statcache.json")
    out = []
    try:
        for plan in plans:
            assert plan.info is not None
            out.append(fp.compute(fp.FingerprintInputs(
                root=proj.root,
                files=tuple(plan.info.files) + plan.var_files,
                assets=plan.provisioners + plan.info.assets,
                vars=plan.fingerprint_vars(),
                meta={"only": ",".join(plan.target.only), "except": ",".join(plan.target.except_),
                      "packer_version": packer.version, "env": env},
            ), cache=cache))
        return out
    finally:
        cache.save()


def _compare(store: StateStore, target: str, env: str, current: Fingerprint) -> tuple[Fingerprint | None, DriftDiff]:
    """The trusted fingerprint of (target, env), if any, and how ``current`` differs from it."""
    from hybridcore.packer import fingerprint as fp

    row = store.get_trusted(target, env)
    trusted = fp.Fingerprint.from_entries(row["digest"], row["entries"]) if row else None
    return trusted, fp.diff(trusted, current)


def _execute(cmd: _Command, plans: list[TargetPlan]) -> rec.CommandResult:
    try:
        # A corrupt or too-new state store must stop the command before Packer runs (cheap check).
        cmd.state.get_trusted(plans[0].target.name, cmd.env)
        if cmd.project.classify_rules:
            cmd.classify("", 1)  # a bad [[classify.rules]] entry is a ConfigError now, not after Packer ran
        for plan in plans:
            for warning in plan.warnings:
                cmd.events.event(plan.target.name, "warning", logging.WARNING, message=warning)
        fingerprints: dict[str, Fingerprint] = {}
        if cmd.kind in ("validate", "build"):
            fingerprints = {p.target.name: f for p, f in
                            zip(plans, fingerprints_of(cmd.project, cmd.packer, plans, cmd.env), strict=True)}
        if cmd.kind == "build":
            _refuse_on_drift(cmd, plans, fingerprints)
        if cmd.kind == "build" and cmd.options["use_cache"]:
            private_dir(cmd.options["cache_dir"])
        cmd.preload(plans)
        results = _run_targets(cmd, plans, fingerprints)
        return _command_result(cmd, plans, results)
    finally:
        cmd.close()


def _refuse_on_drift(cmd: _Command, plans: list[TargetPlan], fps: Mapping[str, Fingerprint]) -> None:
    diffs: dict[str, Any] = {}
    summaries: list[str] = []
    for plan in plans:
        name = plan.target.name
        trusted, d = _compare(cmd.state, name, cmd.env, fps[name])
        if not d.clean:
            diffs[name] = d.to_dict()
            summaries.append(f"{name} ({cmd.env}):\n" + "\n".join("  " + s for s in d.summary().splitlines()))
            cmd.events.event(name, "drift", logging.WARNING, message="build refused: inputs drifted",
                             diff=d.to_dict(), digest=fps[name].digest,
                             trusted_digest=trusted.digest if trusted else None)
    if not diffs:
        return
    from hybridcore.packer.classify import Classification

    refused = Classification(retryable=False, category="drift", hint="run validate to trust the new inputs",
                             rule="drift")
    now = now_iso()
    for plan in plans:
        if plan.target.name in diffs:
            cmd.state.record_run(_run_row(cmd, plan, 0, None, status="refused", exit_code=4,
                                          classification=refused, finished_at=now))
    raise DriftDetected(
        "build refused: inputs differ from what was last trusted for "
        + ", ".join(sorted(diffs)) + f" in env {cmd.env!r}\n" + "\n".join(summaries),
        diff=diffs,
        hint="review the changes, then run 'hybridcore-packer validate "
             + " ".join(sorted(diffs)) + "' to trust them (or revert them)",
    )


def _run_targets(cmd: _Command, plans: list[TargetPlan], fps: Mapping[str, Fingerprint],
                 ) -> list[rec.TargetResult]:
    requested = cmd.options.get("parallel")
    # fmt rewrites files in place and is instant: serial. validate and build run targets in parallel.
    workers = min(len(plans), requested or (os.cpu_count() or 1)) if cmd.kind != "fmt" else 1
    workers = max(1, workers)
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hybridcore-target") as pool:
        futures = [pool.submit(_run_target, cmd, plan, fps.get(plan.target.name)) for plan in plans]
        pending = set(futures)
        while pending:
            try:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Ctrl-C (or SIGTERM mapped to it by the CLI): interrupt every Packer process group;
                # a second one skips the grace periods.
                cmd.cancel.request()
                cmd.events.event("*", "interrupt", logging.WARNING, message="interrupt requested")
                continue
            if cmd.options.get("fail_fast") and any(f.result().status != "ok" for f in done):
                cmd.fail_fast_tripped = True
                cmd.cancel.interrupt.set()
        return [f.result() for f in futures]


def _run_target(cmd: _Command, plan: TargetPlan, fingerprint: Fingerprint | None) -> rec.TargetResult:
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

    target = plan.target
    base_dir = private_dir(cmd.run_root / target.slug)
    retries = int(cmd.options.get("retries") or 0)
    proj = cmd.project
    wait = wait_exponential_jitter(multiplier=proj.backoff_initial, max=proj.backoff_max,
                                   jitter=proj.backoff_jitter)

    def should_retry(a: _AttemptResult) -> bool:
        return a.retryable and a.status != "interrupted" and not cmd.cancel.interrupt.is_set()

    attempts: list[_AttemptResult] = []
    retrying = Retrying(stop=stop_after_attempt(retries + 1), wait=wait, retry=retry_if_result(should_retry),
                        sleep=lambda s: _interruptible_sleep(cmd.cancel, s),
                        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
                        before_sleep=lambda state: cmd.events.event(
                            target.name, "retry", logging.WARNING, attempt=state.attempt_number,
                            wait=round(state.upcoming_sleep, 3),
                            message=f"retryable failure ({attempts[-1].classification.category}); "
                                    f"retrying in {state.upcoming_sleep:.1f}s"))
    for attempt in retrying:
        with attempt:
            n = attempt.retry_state.attempt_number
            run_dir = base_dir if n == 1 else private_dir(base_dir / f"attempt-{n}")
            result = _attempt(cmd, plan, n, run_dir)
            attempts.append(result)
        if not attempt.retry_state.outcome or not attempt.retry_state.outcome.failed:
            attempt.retry_state.set_result(result)
    return _finish_target(cmd, plan, fingerprint, attempts, base_dir)


def _timeout(cmd: _Command, target: Target) -> float | None:
    """Seconds one Packer run may take: --timeout, else the target's, else [build] timeout."""
    value: float | None = cmd.options.get("timeout") or target.timeout or cmd.project.build_timeout
    return value


def _interruptible_sleep(cancel: Cancel, seconds: float) -> None:
    # A Ctrl-C during the backoff ends the wait at once; the retry predicate then stops retrying.
    cancel.interrupt.wait(seconds)


@dataclass
class _AttemptResult:
    attempt: int
    run_dir: Path
    outcome: ProcessOutcome
    exit_code: int
    status: str
    classification: Classification
    raw_artifacts: list[RawArtifact]
    manifest: dict[str, Any] | None
    template_manifest: Path | None

    @property
    def retryable(self) -> bool:
        return self.status != "ok" and self.classification.retryable


def _attempt(cmd: _Command, plan: TargetPlan, n: int, run_dir: Path) -> _AttemptResult:
    target = plan.target
    tmpdir = _short_tmpdir(target.slug)
    cache_dir: Path | None = None
    shared: list[str] = []
    if cmd.kind == "build":
        cache_dir, shared = _cache_view(cmd, plan, run_dir)
    prepared = prepare_env(os.environ, hybridcore_env=cmd.env, log_path=run_dir / "packer.log.fifo",
                           tmpdir=tmpdir, secret_vars=plan.split.secret, cache_dir=cache_dir)
    redact = plan.redactor
    atomic_write_json(run_dir / "command.json", redact.value({
        "command_id": cmd.command_id, "kind": cmd.kind, "target": target.name, "attempt": n,
        "argv": [list(a) for a in plan.argvs] if len(plan.argvs) > 1 else list(plan.argv),
        "cwd": str(plan.cwd), "env_set": list(prepared.set_names), "env": cmd.env,
        "packer": {"path": cmd.packer.path, "version": cmd.packer.version},
        "hybridcore_version": __version__, "started_at": now_iso(),
    }))
    cmd.events.event(target.name, "start", attempt=n, argv=redact.value(list(plan.argv)), run_dir=str(run_dir))
    if cmd.observer is not None:
        cmd.observer(target.name, "event", f"start:{n}")
    collector = ArtifactCollector()

    def on_line(stream: str, line: str) -> None:
        if stream == "stdout" and cmd.kind == "build":
            ml = parse_line(line)
            if ml is not None:
                collector.feed(ml)
        cmd.events.line(target.name, stream, line)
        if cmd.observer is not None:
            cmd.observer(target.name, stream, line)

    outcomes: list[ProcessOutcome] = []
    worst = 0
    for i, argv in enumerate(plan.argvs):
        if cmd.cancel.interrupt.is_set() and outcomes:
            break
        step = run_process(ProcessRequest(
            argv=argv, env=dict(prepared.env), cwd=plan.cwd, stdout_path=run_dir / "stdout.log",
            stderr_path=run_dir / "stderr.log", redact=redact, on_line=on_line,
            timeout=_timeout(cmd, target), interrupt_grace=cmd.project.kill_grace, cancel=cmd.cancel,
            packer_log=run_dir / "packer.log",
            append=i > 0,
        ))
        outcomes.append(step)
        if step.exit_code != 0 and (worst in (0, 3)):
            worst = step.exit_code
        if step.status in ("interrupted", "timeout"):
            break
        if step.exit_code != 0 and cmd.kind != "fmt":
            break  # `packer init` failed: the main command would only fail again
    outcome = outcomes[0] if len(outcomes) == 1 else _merge(outcomes)
    shutil.rmtree(tmpdir, ignore_errors=True)
    if shared:
        from hybridcore.packer.cache import SharedCache

        tampered = SharedCache(cmd.options["cache_dir"]).check(shared)
        if tampered:
            message = (f"{target.name}: shared cache entries changed during the build and were quarantined: "
                       + ", ".join(tampered))
            cmd.events.event(target.name, "cache-tampered", logging.ERROR, entries=tampered, message=message)
            cmd.extra_warnings.append(message)
    if cache_dir is not None:
        # The view (symlinks plus Packer's lock files) or the private cache of a --no-cache build.
        shutil.rmtree(cache_dir, ignore_errors=True)
    status: str = outcome.status
    if status == "ok" and cmd.kind == "validate" and _DIAGNOSTIC.search(outcome.stdout + outcome.stderr):
        # Packer 1.6.6 can print an error diagnostic (e.g. a plugin that failed to start) and still
        # exit 0; a validation that printed an error did not validate anything.
        status, worst = "failed", 1
    if status == "failed" and cmd.kind == "fmt" and worst == 3:
        status = "unformatted"
    exit_code = worst if status in ("failed", "unformatted") else outcome.exit_code
    classification = _classify(cmd, outcome, status, exit_code, target)
    manifest, template_manifest = None, None
    if cmd.kind == "build":
        template_manifest = _capture_template_manifest(plan, run_dir, outcomes[0].started_at.timestamp() - 1)
        run_uuid = _run_uuid(template_manifest) or _fallback_uuid()
        manifest = redact.value(artmod.build_manifest(collector.artifacts, plan.info, plan.cwd, run_uuid))
        atomic_write_json(run_dir / "manifest.json", manifest)
    cmd.events.event(target.name, "finish", attempt=n, exit_code=exit_code, status=status,
                     category=classification.category, retryable=classification.retryable,
                     duration=round(outcome.duration, 3))
    if cmd.observer is not None:
        cmd.observer(target.name, "event", f"finish:{status}")
    return _AttemptResult(n, run_dir, outcome, exit_code, status, classification,
                          artmod.distinct(collector.artifacts), manifest, template_manifest)


def _cache_view(cmd: _Command, plan: TargetPlan, run_dir: Path) -> tuple[Path, list[str]]:
    """The PACKER_CACHE_DIR for one build attempt and the shared entries it links to.

    With ``use_cache`` the template's downloads are fetched once into the shared cache (a file lock
    per entry makes concurrent targets wait for one download) and linked into a private view; without
    it the build gets an empty private cache and Packer downloads afresh."""
    if not cmd.options["use_cache"]:
        return private_dir(run_dir / "cache"), []
    from hybridcore.errors import CacheError
    from hybridcore.packer.cache import SharedCache, downloads_of

    shared = SharedCache(cmd.options["cache_dir"])
    entries = []
    for d in downloads_of(plan.info, plan.split.plain):
        try:
            shared.ensure(d)
            entries.append(d.entry)
            cmd.events.event(plan.target.name, "cache", entry=d.entry, url=plan.redactor(d.urls[0]))
        except CacheError as exc:
            # Let Packer try the download itself: its error is the one to classify and show.
            cmd.events.event(plan.target.name, "cache-miss", logging.WARNING, message=plan.redactor(exc.message))
    return shared.view(run_dir / "packer-cache", entries), entries


def _short_tmpdir(slug: str) -> Path:
    """A private TMPDIR per attempt. It must be short: Packer puts its plugins' unix sockets there and
    a socket path over 107 bytes fails with 'bind: invalid argument' (seen with Packer 1.6.6)."""
    import tempfile

    base = tempfile.gettempdir()
    if len(base) > 40 or not os.access(base, os.W_OK):
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=f"hc-{slug[:16]}-", dir=base))


def _merge(outcomes: list[ProcessOutcome]) -> ProcessOutcome:
    """One outcome for several invocations of one step (fmt per folder): tails joined and bounded."""
    from dataclasses import replace

    from hybridcore.packer.process import TAIL_BYTES

    def tail(parts: list[str]) -> tuple[str, bool]:
        text = "".join(parts)
        return (text[-TAIL_BYTES:], True) if len(text) > TAIL_BYTES else (text, False)

    out, out_cut = tail([o.stdout for o in outcomes])
    err, err_cut = tail([o.stderr for o in outcomes])
    last = outcomes[-1]
    return replace(last, stdout=out, stderr=err, started_at=outcomes[0].started_at,
                   stdout_truncated=out_cut or any(o.stdout_truncated for o in outcomes),
                   stderr_truncated=err_cut or any(o.stderr_truncated for o in outcomes),
                   signals=tuple(s for o in outcomes for s in o.signals))


def _classify(cmd: _Command, outcome: ProcessOutcome, status: str, exit_code: int,
              target: Target) -> Classification:
    from hybridcore.packer.classify import Classification, interrupted, timed_out

    if status == "interrupted":
        return interrupted()
    if status == "timeout":
        return timed_out(_timeout(cmd, target) or 0)
    if status == "unformatted":
        return Classification(retryable=False, category="unformatted",
                                 hint="run 'hybridcore-packer fmt' to rewrite the files (see -diff)",
                                 rule="fmt-check")
    return cmd.classify(outcome.stdout + "\n" + outcome.stderr, exit_code)


def _capture_template_manifest(plan: TargetPlan, run_dir: Path, since: float) -> Path | None:
    """Copy (redacted) what the template's own manifest post-processor wrote during this attempt."""
    import json

    for src in artmod.manifest_pp_outputs(plan.info, plan.split.plain):
        try:
            if src.stat().st_mtime < since:
                continue  # left over from an earlier build: not this run's manifest
            data = json.loads(src.read_text())
        except (OSError, ValueError):
            continue
        dest = run_dir / "template-manifest.json"
        atomic_write_json(dest, plan.redactor.value(data))
        return dest
    return None


def _run_uuid(path: Path | None) -> str | None:
    if path is None:
        return None
    import json

    try:
        value = json.loads(path.read_text()).get("last_run_uuid")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _fallback_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _run_row(cmd: _Command, plan: TargetPlan, n: int, run_dir: Path | None, *, status: str,
             exit_code: int | None = None, classification: Classification | None = None,
             finished_at: str | None = None) -> dict[str, Any]:
    return {
        "id": f"{cmd.command_id}/{plan.target.slug}", "kind": cmd.kind, "target": plan.target.name,
        "env": cmd.env, "argv": plan.redactor.value(list(plan.argv)), "exit_code": exit_code,
        "status": status, "category": classification.category if classification else None,
        "retryable": classification.retryable if classification else None,
        "hint": classification.hint if classification else None,
        "started_at": cmd.started_at, "finished_at": finished_at,
        "run_dir": str(run_dir) if run_dir is not None else None, "attempt": n,
    }


def _finish_target(cmd: _Command, plan: TargetPlan, fingerprint: Fingerprint | None,
                   attempts: list[_AttemptResult], base_dir: Path) -> rec.TargetResult:
    from hybridcore.packer import records as rec

    cmd.wait_preload()
    last = attempts[-1]
    target = plan.target
    cls = rec.Classification(**last.classification.to_dict())  # type: ignore[arg-type]
    records: list[rec.ArtifactRecord] = []
    if cmd.kind == "build" and last.raw_artifacts:
        from hybridcore.packer.registry import record_artifacts

        records = record_artifacts(cmd, plan, last, fingerprint)
    if last.status == "ok" and fingerprint is not None and cmd.kind in ("validate", "build"):
        cmd.state.set_trusted(target.name, cmd.env, fingerprint.digest, fingerprint.to_entries(),
                              trusted_by=f"{cmd.command_id}/{target.slug}", reason=cmd.kind)
        cmd.events.event(target.name, "trusted", digest=fingerprint.digest, reason=cmd.kind)
    if last.manifest is not None:
        cmd.state.record_manifest(f"{cmd.command_id}/{target.slug}", target.name, last.manifest,
                                  str(last.run_dir / "manifest.json"))
    finished = now_iso()
    result = rec.TargetResult(
        target=target.name, command=plan.redactor(plan.command_line),
        argv=plan.redactor.value(list(plan.argv)), exit_code=last.exit_code, status=last.status,  # type: ignore[arg-type]
        stdout=last.outcome.stdout, stderr=last.outcome.stderr,
        stdout_truncated=last.outcome.stdout_truncated, stderr_truncated=last.outcome.stderr_truncated,
        stdout_path=str(last.run_dir / "stdout.log"), stderr_path=str(last.run_dir / "stderr.log"),
        packer_log_path=str(last.run_dir / "packer.log"),
        manifest_path=str(last.run_dir / "manifest.json") if last.manifest is not None else None,
        template_manifest_path=str(last.template_manifest) if last.template_manifest else None,
        run_dir=str(base_dir), artifacts=records,
        started_at=attempts[0].outcome.started_at.isoformat(), finished_at=finished,
        retryable=last.retryable, classification=cls,
        attempts=[rec.Attempt(attempt=a.attempt, exit_code=a.exit_code, status=a.status,  # type: ignore[arg-type]
                              classification=rec.Classification(**a.classification.to_dict()),  # type: ignore[arg-type]
                              run_dir=str(a.run_dir), started_at=a.outcome.started_at.isoformat(),
                              finished_at=a.outcome.finished_at.isoformat(), signals=list(a.outcome.signals))
                  for a in attempts],
        signals=list(last.outcome.signals),
        fingerprint=fingerprint.digest if fingerprint else None,
    )
    atomic_write_json(base_dir / "result.json", result.to_dict())
    cmd.state.record_run(_run_row(cmd, plan, last.attempt, base_dir, status=last.status,
                                  exit_code=last.exit_code, classification=last.classification,
                                  finished_at=finished))
    return result


def _command_result(cmd: _Command, plans: list[TargetPlan], results: list[rec.TargetResult],
                    ) -> rec.CommandResult:
    from hybridcore.packer import records as rec

    # Targets stopped by --fail-fast are collateral: the command's outcome is the failure that tripped it.
    judged = [r for r in results if not (cmd.fail_fast_tripped and r.status == "interrupted")] or results
    worst = max(judged, key=lambda r: _SEVERITY.get(r.status, 3))
    failed = [r for r in results if r.status != "ok"]
    exit_code = 0 if not failed else next((r.exit_code for r in results if r is worst), 1)
    if len(results) == 1:
        stdout, stderr = results[0].stdout, results[0].stderr
    else:
        stdout = "".join(f"==> {r.target} <==\n{r.stdout}" for r in results)
        stderr = "".join(f"==> {r.target} <==\n{r.stderr}" for r in results if r.stderr)
    manifest_path: str | None = None
    if cmd.kind == "build":
        if len(results) == 1:
            manifest_path = results[0].manifest_path
        else:
            builds: list[Any] = []
            last_uuid = None
            for r in results:
                if r.manifest_path:
                    import json

                    m = json.loads(Path(r.manifest_path).read_text())
                    builds.extend({**b, "custom_data": {**(b.get("custom_data") or {}), "target": r.target}}
                                  for b in m["builds"])
                    last_uuid = m.get("last_run_uuid") or last_uuid
            manifest_path = str(cmd.run_root / "manifest.json")
            atomic_write_json(Path(manifest_path), {"builds": builds, "last_run_uuid": last_uuid})
    artifacts = [a for r in results for a in r.artifacts]
    warnings = [w for p in plans for w in p.warnings] + cmd.extra_warnings
    result = rec.CommandResult(
        command=cmd.kind, command_id=cmd.command_id, env=cmd.env, packer_version=cmd.packer.version,
        exit_code=exit_code, status=worst.status, stdout=stdout, stderr=stderr, manifest_path=manifest_path,
        artifacts=artifacts, started_at=cmd.started_at, finished_at=now_iso(),
        retryable=bool(failed) and all(r.retryable for r in failed),
        classification=worst.classification, targets=results, warnings=warnings, run_dir=str(cmd.run_root),
    )
    atomic_write_json(cmd.run_root / "result.json", result.to_dict())
    return result
