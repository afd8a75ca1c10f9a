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
import os
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
_CHUNK = 1 << 20  # longest "line" read at once; longer lines arrive in pieces instead of growing memory


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
          redact: Callable[[str], str], on_line: LineCallback | None,
          on_raw_line: LineCallback | None = None) -> None:
    with pipe, sink:
        while chunk := pipe.readline(_CHUNK):
            raw = chunk.decode("utf-8", "replace").rstrip("\r\n")
            if on_raw_line is not None:
                try:
                    on_raw_line(stream, raw)
                except Exception as exc:  # a broken parser must not stop the capture
                    # Its type only: the message could quote the raw (unredacted) line.
                    log.error("raw line consumer failed on %s: %s", stream, type(exc).__name__)
            line = redact(raw)
            sink.write(line.encode() + b"\n")
            sink.flush()
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


def stop(proc: subprocess.Popen[bytes], req: ProcessRequest, sent: list[str]) -> None:
    """INT -> (grace) -> TERM -> (grace) -> KILL, to the whole process group."""
    for sig, grace in ((signal.SIGINT, req.interrupt_grace), (signal.SIGTERM, req.term_grace)):
        _signal_group(proc, sig, sent)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                proc.wait(timeout=0.1)
                return
            except subprocess.TimeoutExpired:
                if req.cancel.kill.is_set():
                    break
    _signal_group(proc, signal.SIGKILL, sent)
    proc.wait()


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
            req.on_line, req.on_raw_line)),
        threading.Thread(target=_pump, daemon=True, args=(
            proc.stderr, open_private(req.stderr_path, append=req.append), err_tail, "stderr", req.redact,
            req.on_line, req.on_raw_line)),
    ]
    for t in readers:
        t.start()
    deadline = None if req.timeout is None else time.monotonic() + req.timeout
    try:
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if req.cancel.interrupt.is_set():
                    ending = "interrupted"
                elif deadline is not None and time.monotonic() >= deadline:
                    ending = "timeout"
                if ending != "exited":
                    stop(proc, req, sent)
                    break
    except KeyboardInterrupt:
        # Only when run on the main thread; the API runs processes on workers and cancels instead.
        ending = "interrupted"
        req.cancel.interrupt.set()
        stop(proc, req, sent)
    finally:
        for t in readers:
            t.join()
        if log_fifo is not None:
            log_fifo.close()
    return ProcessOutcome(
        exit_code=proc.returncode, ending=ending, stdout=out_tail.text(), stderr=err_tail.text(),
        stdout_truncated=out_tail.truncated, stderr_truncated=err_tail.truncated,
        started_at=started, finished_at=datetime.now(UTC), signals=tuple(sent), pid=proc.pid,
    )
