"""The thin process layer: run one command, stream every line, stop it politely.

Modelled on tox's execute: a request in, a frozen outcome out, one reader thread per pipe. Lines are
redacted *before* they touch a file, a callback or the in-memory tail, so no secret ever leaves this
module unredacted. The child runs in its own process group; stopping it is SIGINT (a tool such as
Packer cleans up remote resources on it), then SIGTERM after a grace period, then SIGKILL. Nothing
here knows which tool runs: judging the exit code is the caller's job.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from hybridcore.files import open_private

# How the process ended: by itself (any exit code), or stopped by us on request or at the deadline.
Ending = Literal["exited", "interrupted", "timeout"]
LineCallback = Callable[[str, str], None]   # (stream, redacted line)
TAIL_BYTES = 1 << 20
log = logging.getLogger(__name__)
_CHUNK = 1 << 20  # longest "line" kept whole; longer lines arrive in pieces instead of growing memory
_READ = 1 << 16   # most bytes taken from a pipe at once
_TICK = 0.1       # how often a waiting run looks at its cancel flags and deadline


class Cancel:
    """Shared by every process of one command: ``interrupt`` asks for a clean stop, ``kill`` for now."""

    def __init__(self) -> None:
        self.interrupt = threading.Event()
        self.kill = threading.Event()

    def request(self) -> None:
        if self.interrupt.is_set():
            self.kill.set()
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
    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path
    stdout_path: Path
    stderr_path: Path
    redact: Callable[[str], str] = lambda s: s
    on_line: LineCallback | None = None
    timeout: float | None = None
    interrupt_grace: float = 60.0   # after SIGINT, before SIGTERM: the child may be cleaning up remotely
    term_grace: float = 10.0        # after SIGTERM, before SIGKILL
    tail_bytes: int = TAIL_BYTES
    cancel: Cancel = field(default_factory=Cancel)
    fifo_log: FifoLog | None = None
    append: bool = False            # append to the log files (several commands of one step)
    on_start: Callable[[int], None] | None = None   # called with the pid once the child runs


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
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

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class _Tail:
    """The last ``limit`` bytes of a stream, kept as lines; memory stays flat however much is read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: deque[str] = deque()
        self.size = 0
        self.truncated = False

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > self.limit and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1
            self.truncated = True

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def _pump(pipe: IO[bytes], sink: IO[bytes], tail: _Tail | None, stream: str,
          redact: Callable[[str], str], on_line: LineCallback | None) -> None:
    """Copy ``pipe`` line by line (redacted) into ``sink``, the tail and ``on_line`` until EOF.

    It reads whatever the pipe holds (up to ``_READ`` bytes) at once and writes the chunk's lines
    to ``sink`` with one write and one flush: a syscall per line, and the GIL hand-off each one
    costs, made a line-heavy build measurably slower. Lines still reach ``on_line`` one by one."""
    pending = b""
    with pipe, sink:
        while chunk := pipe.read1(_READ):  # type: ignore[attr-defined]  # BufferedReader and BytesIO have it
            *complete, pending = (pending + chunk).split(b"\n")
            while len(pending) >= _CHUNK:  # a line this long arrives in pieces instead of growing memory
                complete.append(pending[:_CHUNK])
                pending = pending[_CHUNK:]
            if complete:
                _emit(complete, sink, tail, stream, redact, on_line)
        if pending:
            _emit([pending], sink, tail, stream, redact, on_line)


def _emit(raw_lines: list[bytes], sink: IO[bytes], tail: _Tail | None, stream: str,
          redact: Callable[[str], str], on_line: LineCallback | None) -> None:
    lines = [redact(raw.decode("utf-8", "replace").rstrip("\r\n")) for raw in raw_lines]
    sink.write("\n".join(lines).encode() + b"\n")
    sink.flush()
    for line in lines:
        if tail is not None:
            tail.add(line)
        if on_line is not None:
            try:
                on_line(stream, line)
            except Exception:  # a broken consumer must not stop the capture
                log.exception("line consumer failed on %s", stream)


class _FifoReader:
    """Drains a :class:`FifoLog` (redacted) into its destination for as long as the child runs."""

    def __init__(self, fifo: Path, out: Path, redact: Callable[[str], str], append: bool) -> None:
        self.fifo = fifo
        fifo.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            fifo.unlink()
        os.mkfifo(fifo, 0o600)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        # Our own writer keeps the reader from seeing EOF before the child has opened the FIFO.
        self._wfd: int | None = os.open(fifo, os.O_WRONLY)
        os.set_blocking(rfd, True)
        self._thread = threading.Thread(
            target=_pump, args=(os.fdopen(rfd, "rb"), open_private(out, append=append), None, "fifo-log", redact, None),
            daemon=True, name="hybridcore-fifo-log",
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        if self._wfd is not None:
            os.close(self._wfd)
            self._wfd = None
        self._thread.join(timeout)
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals, sent: list[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
        sent.append(sig.name)


class _ExitWatch:
    """Wakes the moment the child exits, instead of ``Popen.wait(timeout)``'s sleeps of up to 50 ms.

    On Linux 5.3+ it polls a pidfd (readable once the child has exited); elsewhere a thread blocks in
    ``waitpid`` and sets an event. Either way the caller also wakes every ``timeout`` to check for a
    cancel or the deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._poll: select.poll | None = None
        self._fd = -1
        self._exited: threading.Event | None = None
        try:
            self._fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # no pidfd_open: not Linux, or a kernel older than 5.3
            self._exited = threading.Event()
            threading.Thread(target=self._block, daemon=True, name="hybridcore-waitpid").start()
        else:
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)

    def _block(self) -> None:
        assert self._exited is not None
        self.proc.wait()
        self._exited.set()

    def wait(self, timeout: float) -> bool:
        """True once the child has exited and been reaped (``proc.returncode`` is set)."""
        if self.proc.returncode is not None:
            return True
        if self._poll is not None:
            if not self._poll.poll(max(0, math.ceil(timeout * 1000))):
                return False
        elif self._exited is not None and not self._exited.wait(timeout):
            return False
        self.proc.wait()  # already exited: reaps at once
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def stop(proc: subprocess.Popen[bytes], req: ProcessRequest, sent: list[str],
         watch: _ExitWatch | None = None) -> None:
    """INT -> (grace) -> TERM -> (grace) -> KILL, to the whole process group."""
    own = watch is None
    watch = watch or _ExitWatch(proc)
    try:
        for sig, grace in ((signal.SIGINT, req.interrupt_grace), (signal.SIGTERM, req.term_grace)):
            _signal_group(proc, sig, sent)
            deadline = time.monotonic() + grace
            while (left := deadline - time.monotonic()) > 0:
                if watch.wait(min(_TICK, left)):
                    return
                if req.cancel.kill.is_set():
                    break
        _signal_group(proc, signal.SIGKILL, sent)
        proc.wait()
    finally:
        if own:
            watch.close()


def run(req: ProcessRequest) -> ProcessOutcome:
    started = datetime.now(UTC)
    log_fifo = None
    if req.fifo_log is not None:
        log_fifo = _FifoReader(req.fifo_log.fifo, req.fifo_log.dest, req.redact, req.append)
    out_tail, err_tail = _Tail(req.tail_bytes), _Tail(req.tail_bytes)
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
    readers = [
        threading.Thread(target=_pump, daemon=True, args=(
            proc.stdout, open_private(req.stdout_path, append=req.append), out_tail, "stdout", req.redact,
            req.on_line)),
        threading.Thread(target=_pump, daemon=True, args=(
            proc.stderr, open_private(req.stderr_path, append=req.append), err_tail, "stderr", req.redact,
            req.on_line)),
    ]
    for t in readers:
        t.start()
    if req.on_start is not None:
        try:
            req.on_start(proc.pid)
        except Exception:  # a broken hook must not leave the child unwatched
            log.exception("on_start hook failed")
    deadline = None if req.timeout is None else time.monotonic() + req.timeout
    watch = _ExitWatch(proc)
    try:
        while True:
            tick = _TICK if deadline is None else max(0.0, min(_TICK, deadline - time.monotonic()))
            if watch.wait(tick):
                break
            if req.cancel.interrupt.is_set():
                ending = "interrupted"
            elif deadline is not None and time.monotonic() >= deadline:
                ending = "timeout"
            if ending != "exited":
                stop(proc, req, sent, watch)
                break
    except KeyboardInterrupt:
        # Only when run on the main thread; the API runs processes on workers and cancels instead.
        ending = "interrupted"
        req.cancel.interrupt.set()
        stop(proc, req, sent, watch)
    finally:
        watch.close()
        for t in readers:
            t.join()
        if log_fifo is not None:
            log_fifo.close()
    return ProcessOutcome(
        exit_code=proc.returncode, ending=ending, stdout=out_tail.text(), stderr=err_tail.text(),
        stdout_truncated=out_tail.truncated, stderr_truncated=err_tail.truncated,
        started_at=started, finished_at=datetime.now(UTC), signals=tuple(sent), pid=proc.pid,
    )
