"""Download progress: figures, rate-limited JSONL events from a real loopback download, the Rich bar."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.support.http_server import serve_directory

from hybridcore.errors import CacheError
from hybridcore.logs import EventLog
from hybridcore.packer.cache import Download, SharedCache
from hybridcore.packer.download_progress import (
    EVENT,
    DownloadProgress,
    JsonlProgress,
    RichBar,
    download_progress,
    human_bytes,
    human_eta,
)

pytestmark = pytest.mark.unit
MIB = 1 << 20


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})


def test_figures_rate_over_a_window_and_eta() -> None:
    clock = FakeClock()
    rec = Recorder()
    p = DownloadProgress("disk.iso", JsonlProgress(rec, interval=1000), total=1000, clock=clock, window=5.0)
    assert (p.done, p.rate, p.eta, p.fraction) == (0, 0.0, None, 0.0)
    for _ in range(10):
        clock.t += 1
        p(p.done + 10)        # 10 bytes/s for 10 s
    assert p.rate == pytest.approx(10.0)
    assert p.eta == pytest.approx(90.0)
    for _ in range(5):
        clock.t += 1
        p(p.done + 50)        # faster lately: the window forgets the slow start
    assert p.rate == pytest.approx(50.0, rel=0.25)
    assert p.done == 350 and p.fraction == pytest.approx(0.35)
    p(1000)
    assert p.eta == 0.0
    p.close()
    assert rec.events[-1]["finished"] is True and rec.events[-1]["ok"] is True


def test_unknown_total_has_no_percent_or_eta() -> None:
    clock = FakeClock()
    p = DownloadProgress("x", JsonlProgress(Recorder()), clock=clock)
    clock.t += 2
    p(4000)
    assert p.total is None and p.fraction is None and p.eta is None
    assert p.rate == pytest.approx(2000.0)
    assert p.fields()["percent"] is None


def test_a_restart_from_zero_resets_the_rate() -> None:
    # The cache tries the next mirror after a failure: bytes start again from zero.
    clock = FakeClock()
    p = DownloadProgress("x", JsonlProgress(Recorder()), total=100, clock=clock)
    clock.t += 1
    p(80)
    clock.t += 1
    p(5)
    assert p.done == 5 and p.rate == 0.0


def test_jsonl_events_are_rate_limited_by_time_and_tenths() -> None:
    clock = FakeClock()
    rec = Recorder()
    renderer = JsonlProgress(rec, interval=2.0, entry="abc.iso")
    p = DownloadProgress("disk.iso", renderer, total=10_000, clock=clock)
    for _ in range(1000):          # 100 s, 10 bytes every 0.1 s: 1000 updates
        clock.t += 0.1
        p(p.done + 10)
    p.close()
    # One every 2 s, one per tenth (every 10 s here) and the last: ~60, never 1001.
    assert 50 <= len(rec.events) <= 65
    for before, e in zip(rec.events[:-2], rec.events[1:-1], strict=True):
        new_tenth = int(e["percent"] // 10) > int(before["percent"] // 10)
        assert e["elapsed"] - before["elapsed"] >= 1.99 or new_tenth
    assert all(e["event"] == EVENT and e["entry"] == "abc.iso" for e in rec.events)
    assert rec.events[-1]["bytes"] == rec.events[-1]["total"] == 10_000
    assert rec.events[-1]["percent"] == 100.0 and rec.events[-1]["finished"]


def test_jsonl_events_on_each_tenth_when_the_download_is_fast() -> None:
    clock = FakeClock()
    rec = Recorder()
    p = DownloadProgress("x", JsonlProgress(rec, interval=2.0), total=1000, clock=clock)
    for _ in range(100):           # all within 1 s: only the first, each tenth, and the last
        clock.t += 0.01
        p(p.done + 10)
    p.close(ok=True)
    percents = [e["percent"] for e in rec.events]
    assert percents == [1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 100.0]
    assert "ETA" in rec.events[1]["message"] and rec.events[-1]["message"].endswith("done")


def test_real_download_from_a_loopback_server_into_the_event_log(tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    payload = os.urandom(8 * MIB + 12345)
    (served / "disk.img").write_bytes(payload)
    log_path = tmp_path / "logs" / "cmd.jsonl"
    events = EventLog(log_path, "CMD1")
    with serve_directory(served) as server:
        d = Download(urls=(server.url_for("disk.img"),), checksum="sha256:" + hashlib.sha256(payload).hexdigest(),
                     extension="img")
        # interval=0: every chunk is due, so the test sees every step of the real transfer.
        progress = download_progress("disk.img", emit=functools.partial(events.event, "web"), interval=0.0,
                                     entry=d.entry, url=d.urls[0])
        with progress:
            path = SharedCache(tmp_path / "cache").ensure(d, on_progress=progress)
    events.close()
    assert path.read_bytes() == payload
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    got = [r for r in records if r["event"] == EVENT]
    assert len(got) >= 9                                        # one per 1 MiB chunk, and the last
    sizes = [r["bytes"] for r in got]
    assert sizes == sorted(sizes) and sizes[0] > 0              # monotonic
    assert got[-1]["bytes"] == got[-1]["total"] == len(payload)  # the final total is the file's size
    assert all(r["total"] == len(payload) for r in got)         # Content-Length known from the start
    assert got[-1]["finished"] and got[-1]["ok"] and got[-1]["percent"] == 100.0
    assert all(r["target"] == "web" and r["entry"] == d.entry and r["stream"] == "event" for r in got)


def test_a_failed_download_ends_with_a_failed_event(tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "disk.img").write_bytes(b"x" * 1000)
    rec = Recorder()
    with serve_directory(served) as server:
        d = Download(urls=(server.url_for("disk.img"),), checksum="sha256:" + "0" * 64)
        with pytest.raises(CacheError, match="checksum mismatch"), download_progress("disk.img", emit=rec) as p:
            SharedCache(tmp_path / "cache").ensure(d, on_progress=p)
    assert rec.events[-1]["ok"] is False and rec.events[-1]["bytes"] == 1000
    assert rec.events[-1]["message"].endswith("failed")


def test_rich_bar_renders_bytes_rate_and_eta_without_a_pty() -> None:
    console = Console(record=True, force_terminal=True, width=120, file=io.StringIO(), color_system=None)
    clock = FakeClock()
    bar = RichBar(console)
    p = DownloadProgress("ubuntu.iso", bar, total=4 * 1000 * 1000, clock=clock)
    clock.t += 1
    p(1000 * 1000)           # 1 MB in 1 s
    clock.t += 0.01
    p(1000 * 1000 + 10)      # too soon after the last draw: not redrawn
    clock.t += 1
    p(2 * 1000 * 1000)
    assert bar.draws == 2
    p.close()
    frames = console.export_text().split("ubuntu.iso")[1:]  # each redraw starts with the description
    assert len(frames) == 4  # two draws, the final one on close, and Rich's own when it stops
    first, last = frames[0], frames[-1]
    assert "25%" in first and "1.0 MB/4.0 MB" in first and "1.0 MB/s" in first and "ETA 0:00:03" in first
    assert "━" in first  # the bar itself
    assert "50%" in last and "2.0 MB/4.0 MB" in last and "ETA 0:00:02" in last


def test_the_factory_picks_a_bar_on_a_terminal_and_events_otherwise() -> None:
    tty = Console(force_terminal=True, file=io.StringIO())
    pipe = Console(force_terminal=False, file=io.StringIO())
    rec = Recorder()
    assert isinstance(download_progress("x", console=tty, emit=rec).renderer, RichBar)
    assert isinstance(download_progress("x", console=pipe, emit=rec).renderer, JsonlProgress)
    silent = download_progress("x")
    silent(10, 20)
    silent.close()
    assert silent.done == 10 and silent.ok is True and rec.events == []


def test_a_cache_hit_reports_nothing(tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    payload = b"cached image" * 100
    (served / "disk.img").write_bytes(payload)
    rec = Recorder()
    with serve_directory(served) as server:
        d = Download(urls=(server.url_for("disk.img"),), checksum="sha256:" + hashlib.sha256(payload).hexdigest())
        cache = SharedCache(tmp_path / "cache")
        with download_progress("disk.img", emit=rec, interval=0.0) as first:
            cache.ensure(d, on_progress=first)
        sent = len(rec.events)
        with download_progress("disk.img", emit=rec, interval=0.0) as second:
            cache.ensure(d, on_progress=second)  # verified entry already there: no download
    assert sent >= 2 and rec.events[sent - 1]["bytes"] == len(payload)
    assert len(rec.events) == sent and second.updates == 0 and second.ok is True


def test_human_formats() -> None:
    assert [human_bytes(n) for n in (999, 1000, 1_500_000, 2.5e12)] == ["999 B", "1.0 kB", "1.5 MB", "2.5 TB"]
    assert [human_eta(s) for s in (None, 0, 59.6, 3725)] == ["-:--:--", "0:00:00", "0:01:00", "1:02:05"]


class _Observer:
    """What the CLI's narrator offers an attempt: the console a bar may be drawn on, or None."""

    def __init__(self, console: Console | None) -> None:
        self.console = console

    def __call__(self, target: str, stream: str, line: str) -> None:
        pass

    def progress_console(self) -> Console | None:
        return self.console


def _session(observer: Any) -> Any:
    from types import SimpleNamespace

    emitted: list[tuple[str, str, dict[str, Any]]] = []
    return SimpleNamespace(observer=observer, emitted=emitted,
                           emit=lambda target, name, **fields: emitted.append((target, name, fields)))


def _served(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    served = tmp_path / "www"
    served.mkdir()
    payload = os.urandom(size)
    (served / "disk[bold].iso").write_bytes(payload)
    return served, payload


def test_a_build_shows_a_real_download_as_a_rich_bar_on_a_terminal(tmp_path: Path) -> None:
    from hybridcore.packer.attempt import download_progress_of

    console = Console(record=True, force_terminal=True, width=160, file=io.StringIO(), color_system=None)
    s = _session(_Observer(console))
    served, payload = _served(tmp_path, 6 * MIB + 777)
    with serve_directory(served) as server:
        url = server.url_for("disk[bold].iso")
        d = Download(urls=(url,), checksum="sha256:" + hashlib.sha256(payload).hexdigest(), extension="iso")
        with download_progress_of(s, "web", d.entry, url) as progress:
            path = SharedCache(tmp_path / "cache").ensure(d, on_progress=progress)
    assert path.read_bytes() == payload
    assert isinstance(progress.renderer, RichBar) and progress.renderer.draws >= 1
    text = console.export_text()
    size = human_bytes(len(payload))
    # The last frame: the whole file, its rate and a finished ETA; the file's name printed literally.
    assert f"100% {size}/{size}" in text and "B/s ETA 0:00:00" in text and "━" in text
    assert "disk[bold].iso" in text
    assert s.emitted == []  # the bar is the display; no event per chunk on top of it


def test_without_a_terminal_a_real_download_is_reported_as_events(tmp_path: Path) -> None:
    from hybridcore.packer.attempt import download_progress_of

    s = _session(_Observer(None))
    served, payload = _served(tmp_path, 3 * MIB)
    with serve_directory(served) as server:
        url = server.url_for("disk[bold].iso")
        d = Download(urls=(url,), checksum="sha256:" + hashlib.sha256(payload).hexdigest(), extension="iso")
        with download_progress_of(s, "web", d.entry, url) as progress:
            SharedCache(tmp_path / "cache").ensure(d, on_progress=progress)
    assert isinstance(progress.renderer, JsonlProgress)
    assert {(target, name) for target, name, _ in s.emitted} == {("web", EVENT)}
    last = s.emitted[-1][2]
    assert last["bytes"] == last["total"] == len(payload) and last["ok"] and last["entry"] == d.entry
    assert last["url"] == url


def test_the_cli_line_printer_offers_a_console_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridcore.packer.console import stream
    from hybridcore.packer.console.narrate import Narrator

    monkeypatch.setattr(stream, "is_terminal", lambda stderr=False: False)
    assert Narrator(stream.LinePrinter(["web"])).progress_console() is None
    monkeypatch.setattr(stream, "is_terminal", lambda stderr=False: True)
    got = Narrator(stream.LinePrinter(["web"])).progress_console()
    assert isinstance(got, Console) and got.stderr
