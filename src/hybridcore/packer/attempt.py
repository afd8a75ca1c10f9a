"""One attempt at one target: prepare its folder and environment, run Packer's steps, judge the ending.

What comes out is an :class:`AttemptOutcome` held in memory (status, classification, the artifacts
Packer announced, the template's own manifest); ``results`` turns it into files and records. The
only files written here are the ones that must exist while Packer runs: ``command.json`` and the
process layer's logs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore import __version__
from hybridcore.errors import CacheError
from hybridcore.files import atomic_write_json, private_dir
from hybridcore.logs import now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer.machine_readable import ArtifactCollector, RawArtifact, parse_line
from hybridcore.packer.plan import TargetPlan
from hybridcore.packer.process import TAIL_BYTES, FifoLog, ProcessOutcome, ProcessRequest
from hybridcore.packer.process import run as run_process
from hybridcore.packer.secrets import PACKER_IDENTIFIERS, prepare_env
from hybridcore.packer.session import Session
from hybridcore.packer.status import Status, exit_code_for
from hybridcore.packer.varfile import remove_var_file, var_file_path, write_var_file

if TYPE_CHECKING:
    from hybridcore.packer.classify import Classification
    from hybridcore.packer.download_progress import DownloadProgress

# Packer 1.6.6 can print an error diagnostic (e.g. a plugin that failed to start) and still exit 0.
_DIAGNOSTIC = re.compile(r"^(Error|\?{3,}): ", re.M)
_FMT_UNFORMATTED = 3   # `packer fmt -check` exit code for "files need formatting"


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One attempt at a target: its Packer runs, status, classification and artifacts."""

    attempt: int
    run_dir: Path
    process: ProcessOutcome                 # all of the step's Packer runs, merged
    packer_exit_code: int
    status: Status
    classification: Classification
    artifacts: tuple[RawArtifact, ...]      # as Packer announced them, duplicates removed
    template_manifest: Any                  # what the template's manifest post-processor wrote, redacted

    @property
    def retryable(self) -> bool:
        return self.status != Status.OK and self.classification.retryable

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.status, self.retryable)


def run_attempt(s: Session, plan: TargetPlan, n: int, run_dir: Path) -> AttemptOutcome:
    target = plan.target
    tmpdir = _short_tmpdir(target.slug)
    # Recorded before Packer starts: if this wrapper dies, the next command's sweep removes it.
    s.store.record_run({"id": f"{s.command_id}/{target.slug}", "tmp_dir": str(tmpdir)})
    cache_dir: Path | None = None
    shared: list[str] = []
    if s.kind == "build":
        cache_dir, shared = _cache_view(s, plan, run_dir)
    fifo = FifoLog(fifo=run_dir / "packer.log.fifo", dest=run_dir / "packer.log")
    prepared = prepare_env(os.environ, hybridcore_env=s.env, log_path=fifo.fifo, tmpdir=tmpdir,
                           cache_dir=cache_dir)
    redact = plan.redactor
    # Every given value goes in the one file that holds secrets: 0600 in the 0700 temp folder, written
    # just before Packer starts and removed whatever happens (after a crash, the abandoned-run sweep
    # removes the folder, whose path command.json records).
    var_file = var_file_path(tmpdir, plan.var_file) if plan.var_file is not None else None
    argvs = plan.argvs_for(var_file)
    atomic_write_json(run_dir / "command.json", redact.redact_record({
        "command_id": s.command_id, "kind": s.kind, "target": target.name, "attempt": n,
        "argv": [list(a) for a in argvs] if len(argvs) > 1 else list(argvs[-1]),
        "cwd": str(plan.cwd), "tmpdir": str(tmpdir), "env_set": list(prepared.set_names), "env": s.env,
        "packer": {"path": s.packer.path, "version": s.packer.version},
        "hybridcore_version": __version__, "started_at": now_iso(),
    }))
    s.events.event(target.name, "start", attempt=n, argv=redact.redact_record(list(plan.argv)),
                   run_dir=str(run_dir))
    s.notify(target.name, "event", f"start:{n}")
    collector = ArtifactCollector()

    def on_raw_line(stream: str, raw: str) -> None:
        # Parse first, redact what is stored: the collector keeps Packer's identifiers as printed
        # (a secret equal to "null" or "file" must not become builder_type); records, manifests and
        # events redact its values (redact_record with keep=PACKER_IDENTIFIERS).
        # The collector only takes artifact lines: the substring test spares parsing every other line.
        if stream == "stdout" and ",artifact," in raw:
            ml = parse_line(raw)
            if ml is not None:
                collector.feed(ml)

    def on_line(stream: str, line: str) -> None:
        with contextlib.suppress(OSError):  # a full disk: the run's own logs say so (pipes.Sink)
            s.events.line(target.name, stream, line)
        s.notify(target.name, stream, line)

    def on_event(name: str, fields: dict[str, Any]) -> None:
        s.emit(target.name, name, logging.WARNING, **fields)

    timeout = s.timeout_for(target.timeout)
    steps: list[ProcessOutcome] = []
    packer_code = 0
    try:
        write_var_file(tmpdir, plan.var_file)
        for i, argv in enumerate(argvs):
            if s.cancel.interrupt.is_set() and steps:
                break
            step = run_process(ProcessRequest(
                argv=argv, env=dict(prepared.env), cwd=plan.cwd, stdout_path=run_dir / "stdout.log",
                stderr_path=run_dir / "stderr.log", redact=redact, on_line=on_line,
                on_raw_line=on_raw_line if s.kind == "build" else None, timeout=timeout,
                interrupt_grace=s.project.kill_grace, term_grace=s.project.kill_grace, cancel=s.cancel,
                fifo_log=fifo, append=i > 0, on_event=on_event, log_max_bytes=s.project.log_max_mb << 20,
                on_spawn=lambda pid: s.packer_started.set(),
            ))
            steps.append(step)
            if step.exit_code != 0 and packer_code in (0, _FMT_UNFORMATTED):
                packer_code = step.exit_code  # a real failure outranks "unformatted" from an earlier folder
            if step.ending != "exited":
                break
            if step.exit_code != 0 and s.kind != "fmt":
                break  # `packer init` failed: the main command would only fail again
    finally:
        remove_var_file(var_file)
    outcome = steps[0] if len(steps) == 1 else _merge(steps)
    shutil.rmtree(tmpdir, ignore_errors=True)
    if shared:
        _check_shared_cache(s, target.name, shared)
    if cache_dir is not None:
        # The view (symlinks plus Packer's lock files) or the private cache of a --no-cache build.
        shutil.rmtree(cache_dir, ignore_errors=True)
    status, packer_code = _judge(s, outcome, packer_code)
    judged_code = packer_code
    if status == Status.FAILED and s.kind == "validate":
        left_over = existing_output_only(outcome.stdout + "\n" + outcome.stderr)
        if left_over:
            # Packer 1.6.6's validate has no -force: a build's own output would block trust forever.
            status, judged_code = Status.OK, 0
            message = (f"{target.name}: Packer's validate failed only because output directories of an "
                       f"earlier build exist ({', '.join(left_over)}); trusted anyway: 'build --force' "
                       "replaces them")
            s.warnings.append(message)
            s.events.event(target.name, "warning", logging.WARNING, message=message)
    from hybridcore.packer.classify import Classification  # after Packer: off the path to starting it

    classification = _classify(s, outcome, status, judged_code, timeout, run_dir / "packer.log")
    if any("disk full" in note for note in outcome.log_notes) and status in (Status.OK, Status.FAILED):
        # Logs were lost: whatever Packer said, this run cannot be vouched for.
        status = Status.FAILED
        classification = Classification(
            retryable=False, category="disk-full", rule="log-write",
            hint=f"no space left on device for the run's logs in {run_dir} (log truncated: disk full); "
                 "free some space and build again")
    template_manifest = None
    if s.kind == "build":
        template_manifest = _template_manifest(plan, since=steps[0].started_at.timestamp() - 1)
    s.events.event(target.name, "finish", attempt=n, exit_code=exit_code_for(status, classification.retryable),
                   packer_exit_code=packer_code, status=status, category=classification.category,
                   retryable=classification.retryable, duration=round(outcome.duration, 3))
    s.notify(target.name, "event", f"finish:{status}")
    return AttemptOutcome(n, run_dir, outcome, packer_code, status, classification,
                          tuple(artmod.distinct(collector.artifacts)), template_manifest)


# Compiled on first use: only a validate that failed is read this way.
@functools.cache
def _output_exists() -> re.Pattern[str]:
    return re.compile(r"^\s*\* Output directory '(.+)' already exists\. It must not exist\.\s*$")


@functools.cache
def _bullet() -> re.Pattern[str]:
    return re.compile(r"^\s*\* ")


@functools.cache
def _error_head() -> re.Pattern[str]:
    return re.compile(r"^Error: (?:\d+ error\(s\) occurred:|Failed to prepare build: .*)?\s*$")


def existing_output_only(text: str) -> list[str]:
    """The output directories named when they are validate's only errors ("Output directory '…' already
    exists. It must not exist."), else ``[]``: any other error keeps the validation failed."""
    found: list[str] = []
    for line in text.replace("\\n", "\n").splitlines():
        line = line.split(",ui,error,", 1)[-1]  # a -machine-readable line holds the text after its prefix
        m = _output_exists().match(line)
        if m:
            found.append(m.group(1))
        elif _bullet().match(line) or (line.startswith("Error:") and not _error_head().match(line)):
            return []
    return list(dict.fromkeys(found))


def _judge(s: Session, outcome: ProcessOutcome, packer_code: int) -> tuple[Status, int]:
    """The attempt's status, and Packer's exit code once Packer's known lapses are corrected."""
    if outcome.ending == "interrupted":
        return Status.INTERRUPTED, outcome.exit_code
    if outcome.ending == "timeout":
        return Status.TIMEOUT, outcome.exit_code
    if packer_code == 0:
        if s.kind == "validate" and _DIAGNOSTIC.search(outcome.stdout + outcome.stderr):
            return Status.FAILED, 1  # a validation that printed an error did not validate anything
        return Status.OK, 0
    if s.kind == "fmt" and packer_code == _FMT_UNFORMATTED:
        return Status.UNFORMATTED, packer_code
    return Status.FAILED, packer_code


def _classify(s: Session, outcome: ProcessOutcome, status: Status, packer_code: int,
              timeout: float | None, packer_log: Path) -> Classification:
    from hybridcore.packer.classify import Classification, classify, interrupted, timed_out

    if status == Status.INTERRUPTED:
        return interrupted()
    if status == Status.TIMEOUT:
        return timed_out(timeout or 0)
    if status == Status.UNFORMATTED:
        return Classification(retryable=False, category="unformatted", rule="fmt-check",
                              hint="run 'hybridcore-packer fmt' to rewrite the files (see --diff)")
    return classify(outcome.stdout + "\n" + outcome.stderr, packer_code, rules=s.rules,
                    log_tail=_log_tail(packer_log) if packer_code != 0 else None)


_LOG_TAIL_BYTES = 64 << 10


def _log_tail(path: Path) -> str | None:
    """The end of packer.log (already redacted on its way to disk), for causes Packer prints only there."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def _cache_view(s: Session, plan: TargetPlan, run_dir: Path) -> tuple[Path, list[str]]:
    """The PACKER_CACHE_DIR for one build attempt and the shared entries it links to.

    With ``use_cache`` the template's downloads are fetched once into the shared cache (a file lock
    per entry makes concurrent targets wait for one download) and linked into a private view; without
    it the build gets an empty private cache and Packer downloads afresh."""
    if not s.options.use_cache:
        return private_dir(run_dir / "cache"), []
    from hybridcore.packer.cache import SharedCache, downloads_of  # only builds with downloads need it

    shared = SharedCache(s.cache_dir)
    entries = []
    for d in downloads_of(plan.info, plan.split.plain):
        try:
            with download_progress_of(s, plan.target.name, d.entry, plan.redactor(d.urls[0])) as progress:
                shared.ensure(d, on_progress=progress)
            entries.append(d.entry)
            s.events.event(plan.target.name, "cache", entry=d.entry, url=plan.redactor(d.urls[0]))
        except CacheError as exc:
            # Let Packer try the download itself: its error is the one to classify and show.
            s.events.event(plan.target.name, "cache-miss", logging.WARNING, message=plan.redactor(exc.message))
    return shared.view(run_dir / "packer-cache", entries), entries


def download_progress_of(s: Session, target: str, entry: str, url: str) -> DownloadProgress:
    """How one download into the shared cache is shown: a Rich bar when the observer has a terminal
    console for it (the CLI on a TTY), else ``download-progress`` events in the command's event log
    (and to the observer). ``url`` is already redacted."""
    from hybridcore.packer.download_progress import download_progress

    get = getattr(s.observer, "progress_console", None)
    label = url.rsplit("/", 1)[-1] or entry
    return download_progress(label, console=get() if get is not None else None,
                             emit=functools.partial(s.emit, target), entry=entry, url=url)


def _check_shared_cache(s: Session, target: str, entries: list[str]) -> None:
    from hybridcore.packer.cache import SharedCache

    tampered = SharedCache(s.cache_dir).check(entries)
    if tampered:
        message = (f"{target}: shared cache entries changed during the build and were quarantined: "
                   + ", ".join(tampered))
        s.events.event(target, "cache-tampered", logging.ERROR, entries=tampered, message=message)
        s.warnings.append(message)


def _short_tmpdir(slug: str) -> Path:
    """A private TMPDIR per attempt. It must be short: Packer puts its plugins' unix sockets there and
    a socket path over 107 bytes fails with 'bind: invalid argument' (seen with Packer 1.6.6)."""
    base = tempfile.gettempdir()
    if len(base) > 40 or not os.access(base, os.W_OK):
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=f"hc-{slug[:16]}-", dir=base))


def _merge(steps: list[ProcessOutcome]) -> ProcessOutcome:
    """One outcome for several invocations of one step (fmt per folder): tails joined and bounded."""
    def tail(parts: list[str]) -> tuple[str, bool]:
        text = "".join(parts)
        return (text[-TAIL_BYTES:], True) if len(text) > TAIL_BYTES else (text, False)

    out, out_cut = tail([o.stdout for o in steps])
    err, err_cut = tail([o.stderr for o in steps])
    return replace(steps[-1], stdout=out, stderr=err, started_at=steps[0].started_at,
                   stdout_truncated=out_cut or any(o.stdout_truncated for o in steps),
                   stderr_truncated=err_cut or any(o.stderr_truncated for o in steps),
                   signals=tuple(sig for o in steps for sig in o.signals))


def _template_manifest(plan: TargetPlan, since: float) -> Any:
    """What the template's own manifest post-processor wrote during this attempt (redacted), if any."""
    for src in artmod.manifest_pp_outputs(plan.info, plan.split.plain):
        try:
            if src.stat().st_mtime < since:
                continue  # left over from an earlier build: not this run's manifest
            data = json.loads(src.read_text())
        except (OSError, ValueError):
            continue
        return plan.redactor.redact_record(data, keep=PACKER_IDENTIFIERS)
    return None
