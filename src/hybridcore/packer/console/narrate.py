"""The observer the CLI hands to the API: Packer's lines to the view, events turned into states and
messages, and the acknowledgement of Ctrl-C/SIGTERM the moment it arrives.

A view is a ``stream.LinePrinter`` (pipes, logs, one target) or a ``live.LiveView`` (a terminal and
several targets); both take ``line``, ``state`` and ``message``. Which targets run is known from the
``start``/``finish`` events, so an interrupt is acknowledged ("waiting up to N s for Packer to clean
up") only while Packer runs, and running rows become ``stopping``.
"""

from __future__ import annotations

import threading
from typing import Protocol

from hybridcore.packer.console import events as ev


class View(Protocol):
    def line(self, target: str, stream: str, line: str) -> None: ...
    def state(self, target: str, state: str, detail: str = "") -> None: ...
    def message(self, target: str | None, text: str, style: str | None = None) -> None: ...


class Narrator:
    """Observer ``(target, stream, line)``; ``grace``: ``[build] kill_grace``, for the interrupt message."""

    def __init__(self, view: View, *, grace: float | None = None) -> None:
        self.view = view
        self.grace = grace
        self.running: set[str] = set()
        self.interrupts = 0          # signals acknowledged by :meth:`interrupted`
        self._lock = threading.Lock()

    def __call__(self, target: str, stream: str, line: str) -> None:
        if stream != "event":
            self.view.line(target, stream, line)
            return
        self.event(ev.decode(target, line))

    def event(self, e: ev.Event) -> None:
        with self._lock:
            announced = self.interrupts
        if e.name == ev.START:
            with self._lock:
                self.running.add(e.target)
            attempt = int(e.get("attempt", 1) or 1)
            self.view.state(e.target, "running", f"attempt {attempt}" if attempt > 1 else "")
        elif e.name == ev.FINISH:
            with self._lock:
                self.running.discard(e.target)
            status = str(e.get("status", "finished"))
            if status == "interrupted" and not announced:
                status = "cancelled"  # nobody pressed Ctrl-C: --fail-fast stopped it
            self.view.state(e.target, status)
        elif e.name == ev.RETRY:
            self.view.state(e.target, "retrying", f"in {float(e.get('wait', 0)):.0f}s")
        elif e.name in (ev.TIMEOUT, ev.ESCALATE):
            self.view.state(e.target, "stopping", "timeout" if e.name == ev.TIMEOUT else str(e.get("signal", "")))
        elif e.name == ev.LOCK_WAIT:
            self.view.state(e.target, "waiting for lock")
        elif e.name == ev.INTERRUPT:
            self._stopping("fail-fast" if e.get("reason") == "fail-fast" else "")
            if e.get("reason") != "fail-fast" and announced:
                return  # the CLI said it already, when the signal arrived
        if e.name == ev.ESCALATE and e.get("reason") == "second-interrupt" and announced > 1:
            return
        shown = ev.message(e)
        if shown is not None:
            self.view.message(None if e.target == ev.COMMAND else e.target, *shown)

    def _stopping(self, detail: str) -> None:
        with self._lock:
            running = sorted(self.running)
        for target in running:
            self.view.state(target, "stopping", detail)

    def interrupted(self, sigterm: bool = False) -> bool:
        """Acknowledge a Ctrl-C (or SIGTERM) now; False when no Packer runs (nothing to wait for)."""
        with self._lock:
            self.interrupts += 1
            count, running = self.interrupts, bool(self.running)
        if not running:
            return False
        if count == 1:
            e = ev.Event(ev.INTERRUPT, ev.COMMAND, {"reason": "sigterm" if sigterm else "signal",
                                                    "grace": self.grace})
        else:
            e = ev.Event(ev.ESCALATE, ev.COMMAND, {"signal": "SIGKILL", "reason": "second-interrupt"})
        self._stopping("")
        shown = ev.message(e)
        if shown is not None:
            self.view.message(None, *shown)
        return True
