"""Live progress for parallel builds: one line per target with its state, elapsed time and the last
thing Packer said. Used only on a terminal; pipes and CI logs get plain prefixed lines instead."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridcore.packer.machine_readable import parse_line, ui_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live


@dataclass
class _Row:
    state: str = "queued"
    started: float | None = None
    finished: float | None = None
    last: str = ""
    attempt: int = 1


@dataclass
class LiveView:
    console: Console
    targets: list[str]
    rows: dict[str, _Row] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.rows = {t: _Row() for t in self.targets}
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4,
                          transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, target: str, stream: str, line: str) -> None:
        with self._lock:
            row = self.rows.setdefault(target, _Row())
            if stream == "event":
                kind, _, detail = line.partition(":")
                if kind == "start":
                    row.state, row.started, row.finished = "running", row.started or time.monotonic(), None
                    row.attempt = int(detail or 1)
                elif kind == "finish":
                    row.state, row.finished = detail, time.monotonic()
                return
            ml = parse_line(line)
            text = ui_text(ml) if ml is not None else line
            if text and text.strip():
                row.last = text.strip().splitlines()[-1][:120]

    def render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for col in ("target", "state", "elapsed", "last message"):
            table.add_column(col, no_wrap=col != "last message", overflow="ellipsis")
        now = time.monotonic()
        with self._lock:
            for name, row in self.rows.items():
                elapsed = ""
                if row.started is not None:
                    elapsed = f"{(row.finished or now) - row.started:6.1f}s"
                style = {"ok": "green", "running": "cyan", "queued": "dim"}.get(row.state, "red")
                state = row.state + (f" (attempt {row.attempt})" if row.attempt > 1 else "")
                table.add_row(name, f"[{style}]{state}[/]", elapsed, row.last)
        return table
