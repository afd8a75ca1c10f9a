"""The reading side of the process layer: each pipe read in big chunks and split into lines, every line
redacted before it reaches a log file, the bounded tail or a callback; logs that never stop the capture.

Split from ``process`` (which starts, waits for and stops the child) so each stays one job.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from hybridcore.files import open_private
from hybridcore.packer.redaction import BaseRedactor

LineCallback = Callable[[str, str], None]   # (stream, line)
log = logging.getLogger("hybridcore.packer.process")
_CHUNK = 1 << 20  # where an over-long line is cut: longer lines arrive in pieces instead of growing memory
_READ = 1 << 16   # one read takes whatever a pipe holds (64 KiB is a Linux pipe's default capacity)
_CUT_WINDOW = 1 << 16  # around a cut, where a straddling secret is looked for (lines up to
                       # _CHUNK + _CUT_WINDOW arrive whole)


class Tail:
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


def pump(pipe: IO[bytes], sink: IO[bytes] | Sink, tail: Tail | None, stream: str,
          redact: Callable[[str], str], on_line: LineCallback | None,
          on_raw_line: LineCallback | None = None) -> None:
    """Read ``pipe`` in big chunks (one ``read`` for however many lines are waiting, not one call per
    line) and hand each complete line on; the redacted lines of one chunk reach ``sink`` in one write.
    A line longer than ``_CHUNK`` arrives in pieces, so memory stays bounded."""
    fd = pipe.fileno()
    pending = b""
    with pipe, sink:
        while True:
            try:
                chunk = os.read(fd, _READ)
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for other runtimes
                continue
            if not chunk:
                break
            pending += chunk
            if b"\n" not in chunk and len(pending) < _CHUNK + _CUT_WINDOW:
                continue
            *complete, pending = pending.split(b"\n")
            # A piece is cut only once the bytes after the cut are here too: a secret straddling the
            # cut must be seen whole to be kept out of it.
            while len(pending) >= _CHUNK + _CUT_WINDOW:
                cut = _cut(pending, redact)
                complete.append(pending[:cut])
                pending = pending[cut:]
            _lines(complete, sink, tail, stream, redact, on_line, on_raw_line)
        if pending:
            _lines([pending], sink, tail, stream, redact, on_line, on_raw_line)


def _cut(data: bytes, redact: Callable[[str], str]) -> int:
    """Where to end the next piece of an over-long line: at ``_CHUNK`` bytes, moved back to the start
    of a secret that would straddle it (pieces are redacted one by one)."""
    if not isinstance(redact, BaseRedactor) or not redact.count:
        return _CHUNK
    lo = _CHUNK - _CUT_WINDOW
    # surrogateescape: one character per undecodable byte, so character and byte offsets map exactly.
    window = data[lo:_CHUNK + _CUT_WINDOW].decode("utf-8", "surrogateescape")
    head = len(data[lo:_CHUNK].decode("utf-8", "surrogateescape"))
    cut = redact.safe_cut(window, head)
    if cut <= 0:  # an occurrence longer than the window: cut where the line would have been cut
        return _CHUNK
    return lo + len(window[:cut].encode("utf-8", "surrogateescape"))


def _lines(raw_lines: list[bytes], sink: IO[bytes] | Sink, tail: Tail | None, stream: str,
           redact: Callable[[str], str], on_line: LineCallback | None, on_raw_line: LineCallback | None) -> None:
    """One chunk's lines: parsed raw, redacted, written in one go, kept in the tail, passed on."""
    out = []
    for data in raw_lines:
        raw = data.decode("utf-8", "replace").rstrip("\r\n")
        if on_raw_line is not None:
            try:
                on_raw_line(stream, raw)
            except Exception as exc:  # a broken parser must not stop the capture
                # Its type only: the message could quote the raw (unredacted) line.
                log.error("raw line consumer failed on %s: %s", stream, type(exc).__name__)
        line = redact(raw)
        out.append(line)
        if tail is not None:
            tail.add(line)
    # The chunk's lines reach the log before any consumer sees them: what was shown is on disk.
    sink.write("".join(f"{line}\n" for line in out).encode())
    sink.flush()
    if on_line is not None:
        for line in out:
            try:
                on_line(stream, line)
            except Exception:  # a broken consumer must not stop the capture
                log.exception("line consumer failed on %s", stream)


class FifoReader:
    """Drains a :class:`FifoLog` (redacted) into its destination for as long as the child runs."""

    def __init__(self, fifo: Path, out: Path, redact: Callable[[str], str], append: bool,
                 limit: int | None = None) -> None:
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
            target=pump, daemon=True, name="hybridcore-fifo-log",
            args=(os.fdopen(rfd, "rb"), Sink(open_private(out, append=append), limit), None, "fifo-log", redact,
                  None),
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        if self._wfd is not None:
            os.close(self._wfd)
            self._wfd = None
        self._thread.join(timeout)
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()


class Sink:
    """A log file that never stops the capture: past ``limit`` bytes, or when a write fails (a full
    disk), it writes one note if it can and drops the rest; ``note`` says why for the caller."""

    def __init__(self, fh: IO[bytes], limit: int | None) -> None:
        self.fh, self.limit, self.written = fh, limit, 0
        self.note: str | None = None

    def write(self, data: bytes) -> int:
        if self.note is not None:
            return 0
        if self.limit is not None and self.written + len(data) > self.limit:
            self._stop(f"log truncated: over {self.limit // (1 << 20)} MiB ([build] log_max_mb)")
            return 0
        try:
            self.fh.write(data)
        except OSError as exc:
            self._stop("log truncated: disk full" if exc.errno == errno.ENOSPC else f"log truncated: {exc}")
            return 0
        self.written += len(data)
        return len(data)

    def _stop(self, note: str) -> None:
        self.note = note
        with contextlib.suppress(OSError):
            self.fh.write(f"[hybridcore: {note}]\n".encode())
            self.fh.flush()

    def flush(self) -> None:
        if self.note is None:
            try:
                self.fh.flush()
            except OSError as exc:
                self._stop("log truncated: disk full" if exc.errno == errno.ENOSPC else f"log truncated: {exc}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
