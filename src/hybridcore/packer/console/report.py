"""Results, errors and short reports as a person reads them: on stderr, one write per line.

With ``--json`` only the document goes to stdout (``documents``); nothing here writes JSON. Values
from Packer, templates and users go through ``terminal.clean`` on the way out (in ``emit``).
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import ExitCode, HybridcoreError
from hybridcore.packer.console.documents import error_text
from hybridcore.packer.console.packer_errors import error_lines
from hybridcore.packer.console.terminal import emit, emit_wrapped
from hybridcore.packer.status import Status

if TYPE_CHECKING:
    from hybridcore.packer.driftcheck import DriftReport
    from hybridcore.packer.records import ArtifactRecord, CommandResult, TargetResult

MAX_ERRORS_SHOWN = 5
MAX_ERROR_LINES = 6
_FMT_NOISE = ("Error", "Usage", "==>")


def say(text: str, style: str | None = None) -> None:
    """A line of output on stdout (the data a command prints for people)."""
    emit(text, style=style)


def note(text: str, style: str | None = None) -> None:
    """A line about what happened, on stderr."""
    emit_wrapped(text, style=style)


def cancelled_by_fail_fast(result: CommandResult, target: TargetResult) -> bool:
    """A target the runner stopped because another failed (nobody interrupted the command)."""
    return str(target.status) in ("interrupted", "cancelled") and result.exit_code != ExitCode.INTERRUPTED


def fmt_files(target: TargetResult) -> list[str]:
    """The files ``packer fmt`` rewrote (or, with -check, would rewrite): it prints one name a line."""
    files = []
    for line in target.stdout.splitlines():
        name = line.strip()
        if name and not name.startswith(_FMT_NOISE) and not name.startswith(("+", "-", "@@", " ")) \
                and name.endswith((".hcl", ".pkr.json", ".json")):
            files.append(name)
    return files


def _image_text(a: ArtifactRecord) -> str:
    if a.image_ids:
        return ", ".join(a.image_ids)
    if a.files:
        return f"{len(a.files)} file{'s' if len(a.files) != 1 else ''}: " + ", ".join(f.name for f in a.files[:3])
    return "no image"


def retry_word(retryable: bool, exit_code: int | None) -> str:
    """How a failure reads next to its exit code: 75 is never called a hard stop (a lock held by another
    build is not retried by the wrapper, but running again later is the fix); nothing for 130."""
    if retryable:
        return "retryable"
    if exit_code == ExitCode.INTERRUPTED:
        return ""  # nobody's failure: "interrupted" says it all
    return "try again later" if exit_code == ExitCode.RETRYABLE else "hard stop"


def _ok_line(result: CommandResult, t: TargetResult) -> str:
    if result.command == "fmt":
        files = fmt_files(t)
        return f"{t.target}: fmt rewrote {', '.join(files)}" if files else f"{t.target}: already formatted"
    if result.command == "build":
        n = len(t.artifacts)
        return f"{t.target}: build ok ({n} artifact{'s' if n != 1 else ''})"
    return f"{t.target}: {result.command} ok"


def command_result(result: CommandResult) -> None:
    """The summary after a command: one block per target, then the command line with its exit code."""
    for warning in result.warnings:
        emit_wrapped(warning, lead="warning: ", style="yellow")
    failed_names = [t.target for t in result.targets
                    if t.status != Status.OK and not cancelled_by_fail_fast(result, t)]
    for t in result.targets:
        if t.status == Status.OK:
            emit(_ok_line(result, t), prefix="✓ ", prefix_style="green", stderr=True)
            for a in t.artifacts:
                emit(f"artifact {a.build_id} {a.builder_type} {_image_text(a)}", prefix="    ", stderr=True)
            continue
        if cancelled_by_fail_fast(result, t):
            after = f" after {', '.join(failed_names)} failed" if failed_names else ""
            emit(f"{t.target}: cancelled: --fail-fast stopped it{after}", prefix="○ ", style="dim", stderr=True)
            continue
        _failed_target(result, t)
    emit(f"command {result.command_id} · env {result.env} · packer {result.packer_version} · "
         f"exit {result.exit_code}", style="dim", stderr=True)


def _failed_target(result: CommandResult, t: TargetResult) -> None:
    c = t.classification
    if t.status == Status.UNFORMATTED:
        files = fmt_files(t)
        emit(f"{t.target}: {len(files) or 'some'} file{'s need' if len(files) != 1 else ' needs'} formatting"
             + (f": {', '.join(files)}" if files else ""), prefix="✗ ", prefix_style="red", stderr=True)
        emit_wrapped(c.hint, lead="  hint: ")
        return
    # "timeout (exit 75): retryable", not "timeout (exit 75): timeout, retryable"
    words = [w for w in (c.category if c.category != str(t.status) else "", retry_word(t.retryable, t.exit_code)) if w]
    attempts = f", after {len(t.attempts)} attempts" if len(t.attempts) > 1 else ""
    emit(f"{t.target}: {t.status} (exit {t.exit_code})" + (f": {', '.join(words)}" if words else "") + attempts,
         prefix="✗ ", prefix_style="red", stderr=True)
    errors = t.errors or error_lines(t.stdout, t.stderr)
    for err in errors[:MAX_ERRORS_SHOWN]:
        lines = err.splitlines()
        for n, line in enumerate(lines[:MAX_ERROR_LINES]):
            emit(line, prefix="  error: " if n == 0 else "         ", style="red", stderr=True)
    if len(errors) > MAX_ERRORS_SHOWN:
        emit(f"  ... {len(errors) - MAX_ERRORS_SHOWN} more errors (errors[] in --json)", stderr=True)
    if t.signals:
        emit("  stopped with: " + " → ".join(t.signals)
             + (" (Packer could not clean up: check for leftover VMs)" if "SIGKILL" in t.signals else ""),
             style="yellow" if "SIGKILL" in t.signals else None, stderr=True)
    run_id = f"{result.command_id}/{Path(t.run_dir).name}"
    emit_wrapped(with_run_id(c.hint, run_id), lead="  hint: ")
    emit(f"  logs: hybridcore-packer runs logs {run_id}", stderr=True)
    emit(f"  why:  hybridcore-packer explain {run_id}", stderr=True)


def with_run_id(hint: str, run_id: str) -> str:
    """A rule's hint names ``RUN_ID`` where a command needs one: a person gets the one to copy."""
    return hint.replace("RUN_ID", run_id)


def error(exc: HybridcoreError) -> None:
    message, hint = error_text(exc)
    lines = message.splitlines() or [""]
    emit_wrapped(lines[0], lead="error: ", style="red")
    for line in lines[1:]:
        emit(line, prefix="  ", stderr=True)
    if hint:
        emit_wrapped(hint, lead="hint: ")


def drift_reports(reports: Sequence[DriftReport]) -> None:
    for warning in dict.fromkeys(w for r in reports for w in r.warnings):  # what drift cannot see
        emit_wrapped(warning, lead="warning: ", style="yellow")
    for r in reports:
        if r.clean:
            say(f"{r.target} ({r.env}): no drift", style="green")
        elif r.diff.get("untrusted"):
            say(f"{r.target} ({r.env}): never validated in this env", style="yellow")
        else:
            say(f"{r.target} ({r.env}): drift", style="yellow")
            for line in r.summary.splitlines():
                say("    " + line)
    if not all(r.clean for r in reports):
        names = " ".join(r.target for r in reports if not r.clean)
        note(f"run 'hybridcore-packer validate {names}' to trust the current inputs", style="dim")


def plan_states(doc: Mapping[str, Any]) -> None:
    targets = doc["targets"]
    pad = max((len(t["target"]) for t in targets), default=0)
    styles = {"current": "green", "build": "cyan", "drift": "yellow", "untrusted": "yellow"}
    for t in targets:
        say(f"{t['target']:<{pad}}  {t['state']:<9}  {t['reason']}", style=styles.get(t["state"]))


def explanation(doc: Mapping[str, Any]) -> None:
    say(f"run {doc['run_id']}: {doc['status']} (exit {doc['exit_code']})")
    word = "" if doc["status"] == "ok" else retry_word(bool(doc["retryable"]), doc.get("exit_code"))
    kind = f" ({word})" if word else ""
    say(f"category: {doc['category']}{kind}, rule {doc['rule']}")
    if doc.get("source"):
        say(f"rule source: {doc['source']}")
    for err in doc.get("errors") or []:
        for n, line in enumerate(err.splitlines()[:MAX_ERROR_LINES]):
            say(("packer error: " if n == 0 else "              ") + line, style="red")
    for line in doc.get("evidence") or []:
        say(f"evidence: {line}")
    for line in doc.get("outweighed") or []:
        say(f"outweighed: {line}", style="dim")
    if doc.get("hint"):
        emit_wrapped(with_run_id(str(doc["hint"]), str(doc["run_id"])), lead="hint: ", stderr=False)
    emit_wrapped(doc["retry"], lead="retry: ", stderr=False)


def interrupted() -> None:
    emit("interrupted", stderr=True)


def os_error(exc: OSError) -> None:
    where = f" ({exc.filename})" if exc.filename else ""
    emit(f"error: {exc.strerror or exc}{where}", stderr=True)
    emit_wrapped(os_error_hint(exc), lead="hint: ")


def os_error_hint(exc: OSError) -> str:
    """A hint that fits the error's cause (its errno), not one guess for every I/O error."""
    path = str(exc.filename) if exc.filename else "the file"
    hints = {
        errno.EACCES: f"hybridcore may not open {path}: check its owner and permissions (ls -ld), or run "
                      f"as the user who owns the project",
        errno.EROFS: f"{path} is on a read-only file system: run from a writable checkout (the state and "
                     f"run folders are written under .hybridcore/)",
        errno.ENOSPC: "the disk is full: free space on that file system (runs prune removes old run folders)",
        errno.EDQUOT: "your disk quota is used up: free space or raise the quota",
        errno.ENOTDIR: f"a part of {path} is a file where a folder is expected: move that file aside",
        errno.EISDIR: f"{path} is a folder where a file is expected: check the path",
        errno.ELOOP: f"{path} is a symlink (or a loop of them) that hybridcore does not follow: replace it "
                     f"with a real file or folder",
        errno.ENOENT: f"{path} does not exist (or was removed while the command ran): check the path",
        errno.EMFILE: "too many open files: raise the limit (ulimit -n) or run fewer targets at once (--parallel)",
        errno.ENFILE: "the system ran out of file handles: retry when the machine is less busy",
        errno.EEXIST: f"{path} already exists and was not expected to: move it aside and retry",
    }
    hints[errno.EPERM] = hints[errno.EACCES]
    return hints.get(exc.errno or -1,
                     "check that the project folder and .hybridcore/ are writable and the disk has space")
