"""Live progress of several targets on a terminal: one row per target with its state, elapsed time and
the last thing Packer said (its last error, in red, once there is one). Pipes and CI logs get plain
prefixed lines instead (``stream.LinePrinter``).

States: ``queued``, ``running`` (``attempt n`` after a retry), ``retrying`` (waiting before the next
attempt), ``stopping`` (an interrupt, a timeout or ``--fail-fast`` asked Packer to stop and it is
cleaning up), ``waiting for lock``, then how the target ended (``ok``, ``failed``, ``timeout``,
``interrupted``, ``cancelled``...).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridcore.packer.console.packer_errors import error_lines, headline
from hybridcore.packer.console.stream import packer_text
from hybridcore.packer.console.terminal import clean

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

_STYLES = {"ok": "green", "running": "cyan", "queued": "dim", "retrying": "yellow", "stopping": "yellow",
           "waiting for lock": "yellow", "cancelled": "dim"}
_LAST = 160


@dataclass
class _Row:
    state: str = "queued"
    detail: str = ""
    started: float | None = None
    finished: float | None = None
    last: str = ""
    error: str = ""


class LiveView:
    """A console view for a terminal; a context manager around Rich's ``Live``."""

    def __init__(self, console: Console, targets: list[str]) -> None:
        self.console = console
        self.rows = {t: _Row() for t in targets}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def line(self, target: str, stream: str, line: str) -> None:
        shown = packer_text(line) if stream == "stdout" else ([line], True)
        errors = error_lines(line) if stream == "stdout" else []
        if shown is None and not errors:
            return
        with self._lock:
            row = self.rows.setdefault(target, _Row())
            if errors:
                row.error = headline(errors[-1])[:_LAST]
            elif shown is not None:
                texts = [t.strip() for t in shown[0] if t.strip()]
                if texts:
                    row.last = texts[-1][:_LAST]

    def state(self, target: str, state: str, detail: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            row = self.rows.setdefault(target, _Row())
            if state == "running" and row.started is None:
                row.started = now
            if state in ("running", "retrying", "stopping", "waiting for lock"):
                row.finished = None
            else:
                row.finished = now
            row.state, row.detail = state, detail

    def message(self, target: str | None, text: str, style: str | None = None) -> None:
        from rich.text import Text

        line = Text(f"{target} | " if target else "", style="cyan")
        line.append(clean(text), style=style or "")
        if self._live is not None:
            self._live.console.print(line)
            self._live.refresh()  # show the states that came with the message now, not at the next tick
        else:
            self.console.print(line)

    def render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            cells = []
            for name, row in self.rows.items():
                elapsed = f"{(row.finished or now) - row.started:.1f}s" if row.started is not None else ""
                state = row.state + (f" ({row.detail})" if row.detail else "")
                last = Text(clean(row.error), style="red") if row.error else Text(clean(row.last), style="dim")
                cells.append((Text(clean(name)), Text(state, style=_STYLES.get(row.state, "red")), elapsed, last))
        # Target, state and time keep their width; the last message takes what is left, cut at the end.
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("target", no_wrap=True, min_width=min(30, max((len(c[0]) for c in cells), default=6)))
        table.add_column("state", no_wrap=True, min_width=max((len(c[1]) for c in cells), default=5))
        table.add_column("elapsed", no_wrap=True, justify="right", min_width=7)
        table.add_column("last message", no_wrap=True, overflow="ellipsis", ratio=1)
        for cell in cells:
            table.add_row(*cell)
        return table
