"""``hybridcore.logs``: every line Packer prints and every decision the wrapper makes, as events.

Events go to the stdlib logger ``hybridcore.logs`` (fields in ``extra``: ``command_id``, ``target``,
``stream``, ``line``/``event``) and to a JSON-lines file per command under ``.hybridcore/logs/``.
Callers redact before emitting; the sink is the second line of defence only for event fields.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from hybridcore.files import open_private, private_dir

logger = logging.getLogger("hybridcore.logs")
logger.addHandler(logging.NullHandler())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class EventLog:
    """One command's event stream: thread-safe, append-only, 0600."""

    def __init__(self, path: Path | None, command_id: str) -> None:
        self.command_id = command_id
        self.path = path
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None
        if path is not None:
            private_dir(path.parent)
            self._fh = open_private(path, append=True, encoding="utf-8")

    def line(self, target: str, stream: str, line: str) -> None:
        """One line of Packer output, already redacted."""
        record = {"time": now_iso(), "command_id": self.command_id, "target": target, "stream": stream,
                  "line": line}
        logger.info("%s %s: %s", target, stream, line, extra={k: v for k, v in record.items() if k != "time"}
                    | {"event": "line"})
        self._write(record)

    def event(self, target: str, event: str, level: int = logging.INFO, **fields: Any) -> None:
        """A wrapper decision (start, drift, retry, finish...)."""
        record = {"time": now_iso(), "command_id": self.command_id, "target": target, "stream": "event",
                  "event": event, **fields}
        message = fields.get("message") or event
        logger.log(level, "%s %s: %s", target, event, message,
                   extra={"command_id": self.command_id, "target": target, "stream": "event",
                          "event": event, "fields": fields})
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            return
        text = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock:
            self._fh.write(text + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
