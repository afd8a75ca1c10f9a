"""``hybridcore.logs``: every line Packer prints and every decision the wrapper makes, as events.

Events go to the stdlib logger ``hybridcore.logs`` (fields in ``extra``: ``command_id``, ``target``,
``stream``, ``line``/``event``) and to a JSON-lines file per command under ``.hybridcore/logs/``.
Callers redact before emitting; the sink is the second line of defence only for event fields.

A line event is written on the reader thread of every line Packer prints (tens of thousands in a
long build), so :meth:`EventLog.line` builds its JSON by hand from pre-encoded parts: the same bytes
``json.dumps`` would give, at a quarter of the cost (bench/perline.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from json.encoder import encode_basestring  # the C encoder json.dumps uses
from pathlib import Path
from typing import IO, Any

from hybridcore.files import open_private, private_dir

logger = logging.getLogger("hybridcore.logs")
logger.addHandler(logging.NullHandler())

# (whole second, its "YYYY-MM-DDTHH:MM:SS" text): formatting the date is most of a timestamp's cost
# and changes once a second. One tuple, replaced whole, so threads never see half an update.
_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """Now in UTC as ``datetime.now(UTC).isoformat(timespec="microseconds")`` writes it."""
    global _second
    sec, us = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{us:06d}+00:00"


class EventLog:
    """One command's event stream: thread-safe, append-only, 0600."""

    def __init__(self, path: Path | None, command_id: str, *, max_line_bytes: int | None = None) -> None:
        self.command_id = command_id
        self.path = path
        self._lock = threading.Lock()
        # Packer's lines are bounded like the run's own logs ([build] log_max_mb); the wrapper's
        # events (a handful per target: start, retry, artifact, finish) are always written.
        self._max_line_bytes = max_line_bytes
        self._line_budget: dict[str, int] = {}   # per target, like each target's own logs
        self._dropped: dict[str, int] = {}
        self._fh: IO[str] | None = None
        # '"command_id": ..., "target": ..., "stream": ..., "line": ' per (target, stream).
        self._line_middle: dict[tuple[str, str], str] = {}
        if path is not None:
            private_dir(path.parent)
            self._fh = open_private(path, append=True, encoding="utf-8")

    def line(self, target: str, stream: str, line: str) -> None:
        """One line of Packer output, already redacted."""
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s %s: %s", target, stream, line, extra={
                "command_id": self.command_id, "target": target, "stream": stream, "line": line, "event": "line"})
        if self._fh is None:
            return
        middle = self._line_middle.get((target, stream))
        if middle is None:
            middle = self._line_middle[(target, stream)] = (
                f'"command_id": {encode_basestring(self.command_id)}, "target": {encode_basestring(target)}, '
                f'"stream": {encode_basestring(stream)}, "line": ')
        text = f'{{"time": "{now_iso()}", {middle}{encode_basestring(line)}}}\n'
        if self._max_line_bytes is not None:
            with self._lock:
                size = len(text) if text.isascii() else len(text.encode())
                left = self._line_budget.get(target, self._max_line_bytes) - size
                self._line_budget[target] = left
                if left < 0:
                    self._dropped[target] = self._dropped.get(target, 0) + 1
                first_over = left < 0 and self._dropped[target] == 1
            if left < 0:
                if not first_over:
                    return
                self.event(target, "log_truncated", logging.WARNING,
                           message="event log reached [build] log_max_mb: Packer's further lines are "
                                   "only in the run's stdout.log/stderr.log (also capped)")
                return
        self._write_text(text)

    def lines_dropped(self, target: str) -> int:
        """Packer lines of ``target`` left out of the event log by its cap."""
        with self._lock:
            return self._dropped.get(target, 0)

    def event(self, target: str, event: str, level: int = logging.INFO, **fields: Any) -> None:
        """A wrapper decision (start, drift, retry, finish...)."""
        record = {"time": now_iso(), "command_id": self.command_id, "target": target, "stream": "event",
                  "event": event, **fields}
        message = fields.get("message") or event
        logger.log(level, "%s %s: %s", target, event, message,
                   extra={"command_id": self.command_id, "target": target, "stream": "event",
                          "event": event, "fields": fields})
        if self._fh is not None:
            self._write_text(json.dumps(record, default=str, ensure_ascii=False) + "\n")

    def _write_text(self, text: str) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.write(text)
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
