"""The observer the CLI hands to the API: Packer's lines to the view, events turned into states and
messages.

A view is a ``stream.LinePrinter`` (pipes, logs, one target) or a ``live.LiveView`` (a terminal and
several targets); both take ``line``, ``state`` and ``message``. While targets run, the runner owns
SIGINT/SIGTERM and reports them as ``interrupt`` events; outside that window the CLI's own handler
calls :meth:`Narrator.interrupted`. A ``stopping`` target when nobody interrupted the command was
stopped by ``--fail-fast``; it ends ``cancelled``, not ``interrupted``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from hybridcore.packer.console import events as ev

if TYPE_CHECKING:
    from rich.console import Console


class View(Protocol):
    def line(self, target: str, stream: str, line: str) -> None: ...
    def state(self, target: str, state: str, detail: str = "") -> None: ...
    def message(self, target: str | None, text: str, style: str | None = None) -> None: ...


class MessagesOnly:
    """The view under ``--json``: stdout carries the document alone and Packer's lines are not shown,
    but what the wrapper does (an interrupt, a retry's wait, a timeout, a lock wait) is still said on
    stderr, so a CI log never shows a silent pause."""

    def __init__(self, printer: View) -> None:
        self.printer = printer

    def line(self, target: str, stream: str, line: str) -> None:
        return None

    def state(self, target: str, state: str, detail: str = "") -> None:
        return None

    def message(self, target: str | None, text: str, style: str | None = None) -> None:
        self.printer.message(target, text, style)


class Narrator:
    """Observer ``(target, stream, line)``; ``grace``: ``[build] kill_grace``, for the interrupt message."""

    def __init__(self, view: View, *, grace: float | None = None) -> None:
        self.view = view
        self.grace = grace
        self.running: set[str] = set()
        self.ended: set[str] = set()  # finished targets: an interrupt after their end does not concern them
        self.failed: list[str] = []
        self.said_by_cli = 0      # interrupts acknowledged by :meth:`interrupted`
        self.said_by_events = 0   # ``interrupt`` events received
        self.fail_fast_said = False
        self._lock = threading.Lock()

    def __call__(self, target: str, stream: str, line: str) -> None:
        if stream != "event":
            self.view.line(target, stream, line)
            return
        self.event(ev.decode(target, line))

    def progress_console(self) -> Console | None:
        """The terminal console a download's progress bar goes to, if the view has one (a live table
        does not: Rich draws one live display at a time)."""
        get = getattr(self.view, "progress_console", None)
        return get() if get is not None else None

    @property
    def interrupted_by_operator(self) -> bool:
        return bool(self.said_by_cli or self.said_by_events)

    def event(self, e: ev.Event) -> None:
        if e.name == ev.START:
            with self._lock:
                self.running.add(e.target)
                self.ended.discard(e.target)
            attempt = int(e.get("attempt", default=1) or 1)
            self.view.state(e.target, "running", f"attempt {attempt}" if attempt > 1 else "")
        elif e.name == ev.FINISH:
            status = str(e.get("status", default="finished"))
            with self._lock:
                self.running.discard(e.target)
                self.ended.add(e.target)
                if status not in ("ok", "interrupted"):
                    self.failed.append(e.target)
            if status == "interrupted" and not self.interrupted_by_operator:
                status = "cancelled"
            self.view.state(e.target, status)
        elif e.name == ev.RETRY:
            with self._lock:
                self.ended.discard(e.target)  # "finish" ends an attempt; a retry keeps the target alive
            self.view.state(e.target, "retrying", f"in {float(e.get('wait_s', 'wait', default=0)):.0f}s")
        elif e.name in (ev.STOPPING, ev.TIMEOUT, ev.ESCALATE) and e.target in self.ended:
            return  # the runner stops every target on Ctrl-C; one that already ended keeps its state
        elif e.name == ev.STOPPING:
            self._stopping_target(e.target)
            return
        elif e.name in (ev.TIMEOUT, ev.ESCALATE):
            self.view.state(e.target, "stopping", "timeout" if e.name == ev.TIMEOUT else str(e.get("signal") or ""))
        elif e.name == ev.LOCK_WAIT:
            self.view.state(e.target, "waiting for lock")
        elif e.name == ev.INTERRUPT:
            with self._lock:
                self.said_by_events += 1
                repeat = self.said_by_events <= self.said_by_cli
            if repeat:
                return  # the CLI said it already, when the signal arrived
        shown = ev.message(e)
        if shown is not None:
            self.view.message(None if e.target == ev.COMMAND else e.target, *shown)

    def _stopping_target(self, target: str) -> None:
        fail_fast = not self.interrupted_by_operator
        self.view.state(target, "stopping", "fail-fast" if fail_fast else "")
        with self._lock:
            say = fail_fast and not self.fail_fast_said
            self.fail_fast_said = self.fail_fast_said or say
            failed = list(self.failed)
        if say:
            who = f"{', '.join(failed)} failed" if failed else "a target failed"
            self.view.message(None, f"--fail-fast: {who}; stopping the other targets", "yellow")

    def interrupted(self, sigterm: bool = False) -> bool:
        """Acknowledge a Ctrl-C (or SIGTERM) caught by the CLI; False when no Packer runs."""
        with self._lock:
            self.said_by_cli += 1
            count, running = self.said_by_cli, sorted(self.running)
        if not running:
            return False
        fields = {"signal": "SIGTERM" if sigterm else "SIGINT", "grace_s": self.grace, "kill": count > 1}
        for target in running:
            self.view.state(target, "stopping")
        self.view.message(None, *ev.interrupt_message(ev.Event(ev.INTERRUPT, ev.COMMAND, fields)))
        return True
