"""The event log: hand-built line events are exactly what ``json.dumps`` would write; timestamps are ISO UTC."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.logs import EventLog, now_iso

pytestmark = pytest.mark.unit


def test_now_iso_is_the_datetime_isoformat_of_now() -> None:
    before = datetime.now(UTC).isoformat(timespec="microseconds")
    got = now_iso()
    after = datetime.now(UTC).isoformat(timespec="microseconds")
    assert before <= got <= after
    assert datetime.fromisoformat(got).tzinfo == UTC
    assert len(got) == len(before)


@given(target=st.text(max_size=20), stream=st.sampled_from(["stdout", "stderr"]), line=st.text(max_size=200))
def test_line_event_is_byte_identical_to_json_dumps(tmp_path_factory: pytest.TempPathFactory, target: str,
                                                    stream: str, line: str) -> None:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    log = EventLog(path, "01CMD\"\\")
    log.line(target, stream, line)
    log.line(target, stream, line + "!")  # the cached middle part is reused for a second line
    log.close()
    written = path.read_text(encoding="utf-8").split("\n")[:-1]  # not splitlines(): U+0085 is a line end there
    assert len(written) == 2
    for text, want_line in zip(written, (line, line + "!"), strict=True):
        record = json.loads(text)
        assert list(record) == ["time", "command_id", "target", "stream", "line"]
        assert record["line"] == want_line
        assert record["command_id"] == "01CMD\"\\"
        assert (record["target"], record["stream"]) == (target, stream)
        assert text == json.dumps(record, ensure_ascii=False)


def test_events_and_lines_keep_their_order_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "c.jsonl"
    log = EventLog(path, "C1")
    log.event("web", "start", attempt=1, argv=["packer", "build"])
    log.line("web", "stdout", "1,web,ui,say,hello ✓")
    log.event("web", "finish", status="ok", where=tmp_path)  # default=str for non-JSON values
    log.close()
    records = [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines()]
    assert [r.get("event", "line") for r in records] == ["start", "line", "finish"]
    assert records[1]["line"] == "1,web,ui,say,hello ✓"
    assert records[2]["where"] == str(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_lines_reach_the_stdlib_logger_when_it_listens(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog(None, "C2")
    with caplog.at_level(logging.INFO, logger="hybridcore.logs"):
        log.line("web", "stderr", "boom")
    log.close()
    (rec,) = [r for r in caplog.records if r.name == "hybridcore.logs"]
    assert rec.getMessage() == "web stderr: boom"
    assert (rec.command_id, rec.target, rec.stream, rec.line, rec.event) == (  # type: ignore[attr-defined]
        "C2", "web", "stderr", "boom", "line")


def test_a_closed_log_drops_writes_quietly(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = EventLog(path, "C3")
    log.close()
    log.line("web", "stdout", "late")
    log.event("web", "late")
    assert path.read_text() == ""


def test_packer_lines_are_capped_per_target_and_wrapper_events_never(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    log = EventLog(path, "C4", max_line_bytes=4096)
    for i in range(1000):
        log.line("a", "stdout", f"line {i:04d} " + "x" * 40)
        if i < 10:
            log.line("b", "stdout", "short")
    log.event("a", "finish", status="ok")
    log.close()
    events = [json.loads(x) for x in path.read_text().splitlines()]
    a_lines = [e for e in events if e["target"] == "a" and "line" in e]
    assert 0 < len(a_lines) < 1000 and sum(len(json.dumps(e)) for e in a_lines) <= 4096 + 200
    assert len([e for e in events if e["target"] == "b" and "line" in e]) == 10
    notes = [e for e in events if e.get("event") == "log_truncated"]
    assert [n["target"] for n in notes] == ["a"] and "log_max_mb" in notes[0]["message"]
    assert events[-1]["event"] == "finish" and log.lines_dropped("a") == 1000 - len(a_lines)


def test_the_cap_counts_bytes_not_characters(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    log = EventLog(path, "C5", max_line_bytes=10_000)
    for _ in range(200):
        log.line("a", "stdout", "€" * 100)
    log.close()
    lines = [x for x in path.read_bytes().splitlines() if b'"line"' in x]
    assert sum(len(x) + 1 for x in lines) <= 10_000
