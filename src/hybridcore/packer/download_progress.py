"""How far a download (an ISO, a disk image) has got: bytes done, total, rate, ETA, shown as it goes.

A :class:`DownloadProgress` is the callback the shared cache calls after every chunk it writes
(``on_progress(done, total)``); it keeps the figures and hands itself to a renderer:

* :class:`RichBar` on a terminal: a Rich progress bar (bytes, rate, ETA), redrawn at most 10 times a
  second however small the chunks;
* :class:`JsonlProgress` otherwise: ``download-progress`` events through an ``emit`` callable (in
  practice the command's ``EventLog.event``), at most one every ``interval`` seconds unless another
  tenth of the file is done, plus the first and the last, so a CI log gets a bounded number of lines.

:func:`download_progress` picks one. Rate and ETA come from the last ``window`` seconds of samples,
so a stall shows as a falling rate rather than being averaged away.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

Clock = Callable[[], float]
Emit = Callable[..., None]   # emit(event_name, **fields), e.g. functools.partial(EventLog.event, target)
EVENT = "download-progress"


class ProgressRenderer(Protocol):
    def show(self, progress: DownloadProgress) -> None:
        """Called after every chunk; the renderer decides whether this one is worth drawing."""

    def close(self, progress: DownloadProgress) -> None:
        """Called once, when the download has ended (``progress.ok`` says how)."""


class DownloadProgress:
    """One download's figures. Call it as ``on_progress(done, total)``; close it when the download ends."""

    def __init__(self, label: str, renderer: ProgressRenderer, *, total: int | None = None,
                 clock: Clock = time.monotonic, window: float = 5.0) -> None:
        self.label = label
        self.renderer = renderer
        self.total = total
        self.done = 0
        self.updates = 0                     # on_progress calls so far
        self.ok: bool | None = None          # None while running
        self._clock = clock
        self._window = window
        self.started = clock()
        self.now = self.started
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def __call__(self, done: int, total: int | None = None) -> None:
        if self.ok is not None:
            return
        if total is not None:
            self.total = total
        if done < self.done:
            # The cache moved on to the next mirror and starts again from zero.
            self._samples.clear()
        self.now = self._clock()
        self.done = done
        self.updates += 1
        self._samples.append((self.now, done))
        while len(self._samples) > 2 and self.now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        self.renderer.show(self)

    def close(self, ok: bool = True) -> None:
        """End it. Nothing is drawn or sent if no byte was ever reported (a cache hit downloads nothing;
        a download that failed before its first byte is reported by the cache's own error)."""
        if self.ok is not None:
            return
        self.ok = ok
        self.now = self._clock()
        if self.updates:
            self.renderer.close(self)

    def __enter__(self) -> DownloadProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(ok=exc_type is None)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.now - self.started)

    @property
    def rate(self) -> float:
        """Bytes per second over the last ``window`` seconds (0 until time has passed)."""
        if len(self._samples) < 2:
            return 0.0
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; None when the total or the rate is not known yet."""
        if self.total is None:
            return None
        left = max(0, self.total - self.done)
        if left == 0:
            return 0.0
        rate = self.rate
        return left / rate if rate > 0 else None

    def fields(self) -> dict[str, Any]:
        """The figures as plain JSON values (what a progress event carries)."""
        fraction = self.fraction
        eta = self.eta
        return {"label": self.label, "bytes": self.done, "total": self.total,
                "percent": None if fraction is None else round(fraction * 100, 1),
                "rate": round(self.rate), "eta": None if eta is None else round(eta, 1),
                "elapsed": round(self.elapsed, 3), "finished": self.ok is not None,
                "ok": self.ok}


def human_bytes(n: float) -> str:
    """Decimal units, as download sizes are quoted: ``1.5 MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class JsonlProgress:
    """``download-progress`` events, rate-limited: the first, then every ``interval`` seconds or each
    further tenth of the total, whichever comes first, and always the last."""

    def __init__(self, emit: Emit, *, interval: float = 2.0, steps: int = 10, **extra: Any) -> None:
        self.emit = emit
        self.interval = interval
        self.steps = steps
        self.extra = extra               # e.g. entry, url (already redacted): repeated in every event
        self.sent = 0
        self._last_time: float | None = None
        self._last_step = -1

    def _step(self, progress: DownloadProgress) -> int:
        fraction = progress.fraction
        return -1 if fraction is None else int(fraction * self.steps)

    def show(self, progress: DownloadProgress) -> None:
        step = self._step(progress)
        due = self._last_time is None or progress.now - self._last_time >= self.interval
        if due or step > self._last_step:
            self._send(progress, step)

    def close(self, progress: DownloadProgress) -> None:
        self._send(progress, self._step(progress))

    def _send(self, progress: DownloadProgress, step: int) -> None:
        self._last_time = progress.now
        self._last_step = max(self._last_step, step)
        self.sent += 1
        fields = progress.fields()
        total = f" of {human_bytes(progress.total)}" if progress.total else ""
        state = "done" if progress.ok else "failed" if progress.ok is False else f"ETA {human_eta(fields['eta'])}"
        message = (f"download {progress.label}: {human_bytes(progress.done)}{total}, "
                   f"{human_bytes(progress.rate)}/s, {state}")
        self.emit(EVENT, **self.extra, **fields, message=message)


class RichBar:
    """A Rich progress bar for one download: description, bar, bytes done/total, rate, ETA.

    The figures shown are the :class:`DownloadProgress` ones (not Rich's own speed estimate), so the
    bar and the events always agree. Redraws are limited to ``max_fps``; the last one is always drawn."""

    def __init__(self, console: Console, *, max_fps: float = 10.0, transient: bool = False) -> None:
        self.console = console
        self.min_gap = 1.0 / max_fps
        self.transient = transient
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._drawn: float | None = None
        self.draws = 0

    def _draw(self, progress: DownloadProgress) -> None:
        fraction = progress.fraction
        sizes = human_bytes(progress.done) + (f"/{human_bytes(progress.total)}" if progress.total else "")
        fields: dict[str, Any] = {"pct": "" if fraction is None else f"{fraction:.0%}", "sizes": sizes,
                  "rate": f"{human_bytes(progress.rate)}/s", "eta": human_eta(progress.eta)}
        if self._progress is None or self._task is None:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[pct]:>4}"),
                TextColumn("{task.fields[sizes]}"), TextColumn("{task.fields[rate]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console, auto_refresh=False, transient=self.transient)
            from rich.markup import escape

            # The label is a file or URL name: printed as it is, never read as [markup].
            self._task = self._progress.add_task(escape(progress.label), total=progress.total,
                                                 completed=progress.done, **fields)
            self._progress.start()  # draws the first frame
        else:
            self._progress.update(self._task, completed=progress.done, total=progress.total, **fields)
            self._progress.refresh()
        self._drawn = progress.now
        self.draws += 1

    def show(self, progress: DownloadProgress) -> None:
        if self._drawn is None or progress.now - self._drawn >= self.min_gap:
            self._draw(progress)

    def close(self, progress: DownloadProgress) -> None:
        self._draw(progress)
        if self._progress is not None:
            self._progress.stop()
        if progress.ok is False:
            from rich.text import Text

            self.console.print(Text.assemble(("download failed: ", "red"), progress.label), highlight=False)


class _Silent:
    def show(self, progress: DownloadProgress) -> None:
        pass

    def close(self, progress: DownloadProgress) -> None:
        pass


def download_progress(label: str, *, console: Console | None = None, emit: Emit | None = None,
                      clock: Clock = time.monotonic, **extra: Any) -> DownloadProgress:
    """A bar when ``console`` is a terminal, else JSONL events through ``emit`` (``extra`` goes into
    every event, e.g. ``entry=`` and a redacted ``url=``), else a progress that only counts."""
    renderer: ProgressRenderer
    if console is not None and console.is_terminal:
        renderer = RichBar(console)
    elif emit is not None:
        renderer = JsonlProgress(emit, **extra)
    else:
        renderer = _Silent()
    return DownloadProgress(label, renderer, clock=clock)
