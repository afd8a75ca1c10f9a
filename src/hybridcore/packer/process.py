"""The thin process layer: run one command, stream every line, stop it politely.

Modelled on tox's execute: a request in, a frozen outcome out, one reader thread per pipe (``pipes``).
Lines are redacted *before* they touch a file, a callback or the in-memory tail, so no secret ever
leaves the process layer unredacted. The child runs in its own process group; stopping it is SIGINT (a tool such as
Packer cleans up remote resources on it), then SIGTERM after a grace period, then SIGKILL. Nothing
here knows which tool runs: judging the exit code is the caller's job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hybridcore.files import open_private
from hybridcore.packer.pipes import FifoReader, LineCallback, Sink, Tail, pump
from hybridcore.packer.watchdog import Watchdog

# How the process ended: by itself (any exit code), or stopped by us on request or at the deadline.
Ending = Literal["exited", "interrupted", "timeout"]
EventCallback = Callable[[str, dict[str, Any]], None]   # (event name, fields)
TAIL_BYTES = 1 << 20
log = logging.getLogger(__name__)
_READER_JOIN_S = 2.0   # how long readers are waited for once the group was stopped
_KILL_WAIT_S = 5.0     # how long a SIGKILLed child is waited for


class Cancel:
    """Shared by every process of one command: ``interrupt`` asks for a clean stop, ``kill`` for now.

    ``signal`` is the first signal the process groups get: SIGINT for a Ctrl-C, SIGTERM when the
    wrapper itself was sent SIGTERM (the caller's intent is passed on as it came)."""

    def __init__(self) -> None:
        self.interrupt = threading.Event()
        self.kill = threading.Event()
        self.signal = signal.SIGINT

    def request(self, sig: signal.Signals = signal.SIGINT) -> None:
        if self.interrupt.is_set():
            self.kill.set()
        else:
            self.signal = sig
        self.interrupt.set()


@dataclass(frozen=True, slots=True)
class FifoLog:
    """A log the child writes to a path it is told about (e.g. in an environment variable).

    ``fifo`` is created as a named pipe so the text is redacted on its way to ``dest`` and never
    lands on disk raw; the caller puts ``fifo`` wherever the child looks for its log path."""

    fifo: Path
    dest: Path


@dataclass(frozen=True, slots=True)
class ProcessRequest:
    """One command to run: argv, environment, logs, callbacks and how to stop it."""

    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path
    stdout_path: Path
    stderr_path: Path
    redact: Callable[[str], str] = lambda s: s
    on_line: LineCallback | None = None
    # Sees each line *before* redaction, for parsing only (a secret equal to "null" must not turn a
    # parsed field into the marker); it must store nothing. Called before ``on_line``.
    on_raw_line: LineCallback | None = None
    timeout: float | None = None
    interrupt_grace: float = 60.0   # after SIGINT, before SIGTERM: the child may be cleaning up remotely
    term_grace: float = 10.0        # after SIGTERM, before SIGKILL
    tail_bytes: int = TAIL_BYTES
    cancel: Cancel = field(default_factory=Cancel)
    fifo_log: FifoLog | None = None
    append: bool = False            # append to the log files (several commands of one step)
    on_event: EventCallback | None = None   # stop steps as they happen: ("escalate"|"timeout", fields)
    guard: bool = True              # a watchdog kills the child's group if this process dies
    log_max_bytes: int | None = None    # per log file; the rest is dropped with a note
    on_spawn: Callable[[int], None] | None = None   # the child started (its pid), readers attached


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """How one command ended: exit code, redacted output tails, signals sent."""

    exit_code: int                   # negative: killed by that signal (Popen's convention)
    ending: Ending
    stdout: str                      # bounded tail, redacted
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    started_at: datetime
    finished_at: datetime
    signals: tuple[str, ...] = ()    # signals sent, in order
    pid: int = 0
    log_notes: tuple[str, ...] = ()  # why a log file was cut short (size cap, disk full)

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals, sent: list[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
        sent.append(sig.name)


def _group_gone(proc: subprocess.Popen[bytes]) -> bool:
    """Packer reaped and nothing left in its group: a provisioner's child that ignores signals may
    outlive Packer and keep its pipes open, so Packer's exit alone does not end a stop."""
    if proc.poll() is None:
        return False
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def stop(proc: subprocess.Popen[bytes], req: ProcessRequest, sent: list[str],
         first: signal.Signals = signal.SIGINT) -> None:
    """``first`` -> (grace) -> SIGTERM -> (grace) -> SIGKILL, to the whole process group; returns once
    the group is gone or SIGKILL was sent. ``cancel.kill`` (a second Ctrl-C) skips to SIGKILL, but
    ``first`` is always sent before it (SIGKILL follows at once): two quick Ctrl-Cs can both land
    before this thread looks, and the record then says ``SIGINT → SIGKILL``, as for a second Ctrl-C
    that lands later."""
    steps = [(first, req.interrupt_grace)]
    if first != signal.SIGTERM:
        steps.append((signal.SIGTERM, req.term_grace))
    for i, (sig, grace) in enumerate(steps):
        if i and req.cancel.kill.is_set():
            break
        if i:
            _emit(req, "escalate", signal=sig.name)
        _signal_group(proc, sig, sent)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not req.cancel.kill.is_set():
            if _group_gone(proc):
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        if _group_gone(proc):
            return
    _emit(req, "escalate", signal="SIGKILL")
    _signal_group(proc, signal.SIGKILL, sent)
    # Bounded: a process stuck in the kernel (D state) must not hold the wrapper forever.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_KILL_WAIT_S)


def _emit(req: ProcessRequest, name: str, **fields: Any) -> None:
    if req.on_event is not None:
        try:
            req.on_event(name, fields)
        except Exception:  # a broken consumer must not stop the stop
            log.exception("event consumer failed on %s", name)


def run(req: ProcessRequest) -> ProcessOutcome:
    started = datetime.now(UTC)
    log_fifo = None
    if req.fifo_log is not None:
        log_fifo = FifoReader(req.fifo_log.fifo, req.fifo_log.dest, req.redact, req.append,
                               req.log_max_bytes)
    out_tail, err_tail = Tail(req.tail_bytes), Tail(req.tail_bytes)
    sent: list[str] = []
    ending: Ending = "exited"
    try:
        proc = subprocess.Popen(
            list(req.argv), cwd=req.cwd, env=req.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except BaseException:
        if log_fifo is not None:
            log_fifo.close()
        raise
    assert proc.stdout is not None
    assert proc.stderr is not None
    watchdog = _guard(proc.pid) if req.guard else None
    sinks = (Sink(open_private(req.stdout_path, append=req.append), req.log_max_bytes),
             Sink(open_private(req.stderr_path, append=req.append), req.log_max_bytes))
    readers = [
        threading.Thread(target=pump, daemon=True, args=(
            proc.stdout, sinks[0], out_tail, "stdout", req.redact, req.on_line, req.on_raw_line)),
        threading.Thread(target=pump, daemon=True, args=(
            proc.stderr, sinks[1], err_tail, "stderr", req.redact, req.on_line, req.on_raw_line)),
    ]
    for t in readers:
        t.start()
    if req.on_spawn is not None:
        try:
            req.on_spawn(proc.pid)
        except Exception:  # a broken consumer must not leave the child unwatched
            log.exception("spawn consumer failed")
    deadline = None if req.timeout is None else time.monotonic() + req.timeout
    exited = _ExitWaiter(proc)
    try:
        while True:
            try:
                exited.wait(_POLL_S)
                break
            except subprocess.TimeoutExpired:
                if req.cancel.interrupt.is_set():
                    ending = "interrupted"
                    stop(proc, req, sent, req.cancel.signal)
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    ending = "timeout"
                    _emit(req, "timeout", seconds=req.timeout)
                    stop(proc, req, sent)
                    break
    except KeyboardInterrupt:
        # Only when run on the main thread; the API runs processes on workers and cancels instead.
        ending = "interrupted"
        req.cancel.interrupt.set()
        stop(proc, req, sent)
    finally:
        exited.close()
        stopped = _drain(readers, proc, req, sent, ending != "exited")
        if log_fifo is not None:
            log_fifo.close(_READER_JOIN_S if stopped else 10.0)
        if watchdog is not None:
            watchdog.release()
    if stopped and ending == "exited":
        ending = "interrupted"
    return ProcessOutcome(
        exit_code=proc.returncode if proc.returncode is not None else -signal.SIGKILL, ending=ending,
        stdout=out_tail.text(), stderr=err_tail.text(),
        stdout_truncated=out_tail.truncated, stderr_truncated=err_tail.truncated,
        started_at=started, finished_at=datetime.now(UTC), signals=tuple(sent), pid=proc.pid,
        log_notes=tuple(n for sink in sinks if (n := sink.note) is not None),
    )


_POLL_S = 0.1   # how often a running child's caller looks at the cancel flag and the deadline


class _ExitWaiter:
    """``wait(seconds)`` returns once the child exited (reaped), else raises ``TimeoutExpired``.

    Through a pidfd the wake-up is immediate; ``Popen.wait(timeout=...)`` polls with sleeps that grow
    to 50 ms, which a short Packer run (``validate``) would pay on every exit."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._poller: select.poll | None = None
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: Popen's own polling wait
            return
        self._poller = select.poll()
        self._poller.register(self._pidfd, select.POLLIN)

    def wait(self, seconds: float) -> None:
        if self._poller is None:
            self.proc.wait(timeout=seconds)
            return
        if self.proc.returncode is None and not self._poller.poll(seconds * 1000):
            raise subprocess.TimeoutExpired(self.proc.args, seconds)
        self.proc.wait()  # readable pidfd: the child exited, so this reaps it without waiting

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = self._poller = None


def _guard(pgid: int) -> Watchdog | None:
    try:
        return Watchdog.guard(pgid)
    except OSError as exc:  # no /bin/sh, no fds left: the build still runs, unguarded
        log.warning("no watchdog for process group %d: %s", pgid, exc)
        return None


def _drain(readers: list[threading.Thread], proc: subprocess.Popen[bytes], req: ProcessRequest,
           sent: list[str], stopped: bool) -> bool:
    """Join the reader threads; True when the group had to be stopped.

    After a stop the joins are bounded: the group is dead, so a pipe still open belongs to a process
    that left the group, and its reader is abandoned (a daemon thread) rather than waited for. Before
    a stop, a Ctrl-C while waiting (Packer exited, something it started holds the pipes) stops the
    group first."""
    for t in readers:
        while t.is_alive():
            if stopped:
                t.join(_READER_JOIN_S)
                break
            t.join(0.1)
            if req.cancel.interrupt.is_set():
                stop(proc, req, sent, req.cancel.signal)
                stopped = True
    return stopped
