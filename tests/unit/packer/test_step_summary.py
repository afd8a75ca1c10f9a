"""The step summary: the Markdown table read back by a real GFM parser, hostile names, the Mermaid gantt
checked against its grammar and drawn by the real renderer (mermaid-cli + chromium), the size limits, and
the append to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from tests.support.mermaid import MermaidError, check_gantt, find_renderer, gantt_facts

from hybridcore.packer.records import Attempt, Classification, CommandResult, TargetResult
from hybridcore.packer.step_summary import (
    MERMAID_TEXT_BUDGET,
    STEP_SUMMARY_LIMIT,
    TABLE_HEADER,
    append_step_summary,
    escape_cell,
    format_duration,
    mermaid_name,
    render_gantt,
    render_markdown,
)

T0 = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)
OK: dict[str, Any] = {"category": "ok", "retryable": False, "hint": "", "rule": "exit-0"}
NET: dict[str, Any] = {"category": "network", "retryable": True, "hint": "check the proxy", "rule": "net-timeout"}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def attempt(n: int, status: str, start: float, end: float | None, cls: Mapping[str, Any] = OK) -> dict[str, Any]:
    return {"attempt": n, "exit_code": 0 if status == "ok" else 1, "status": status,
            "classification": dict(cls), "run_dir": f"/runs/c/t/{n}", "started_at": at(start),
            "finished_at": at(end) if end is not None else None, "signals": []}


def target(name: str, status: str, attempts: list[dict[str, Any]], *, cls: Mapping[str, Any] = OK,
           image_ids: list[str] | None = None, exit_code: int | None = None) -> dict[str, Any]:
    starts = [a["started_at"] for a in attempts]
    ends = [a["finished_at"] for a in attempts if a["finished_at"]]
    return {"target": name, "status": status, "exit_code": exit_code if exit_code is not None else
            (0 if status == "ok" else 1), "started_at": starts[0] if starts else None,
            "finished_at": ends[-1] if ends else None, "classification": dict(cls), "retryable": False,
            "attempts": attempts, "artifacts": [{"image_ids": image_ids}] if image_ids else []}


def command(targets: list[dict[str, Any]], status: str = "ok", *, warnings: list[str] | None = None,
            end: float = 60.0) -> dict[str, Any]:
    return {"command": "build", "command_id": "01JCMD", "env": "dev", "status": status,
            "exit_code": 0 if status == "ok" else 1, "started_at": at(0), "finished_at": at(end),
            "warnings": warnings or [], "targets": targets}


SAMPLE = command([
    target("web", "ok", [attempt(1, "failed", 0.5, 12.0, NET), attempt(2, "ok", 13.0, 41.0)],
           image_ids=["ami-0abc", "ami-0def"]),
    target("db", "timeout", [attempt(1, "timeout", 0.2, 30.0)], exit_code=124,
           cls={"category": "timeout", "retryable": True, "hint": "raise --timeout", "rule": "wall-clock"}),
], status="timeout", warnings=["variable 'x' is unused"], end=41.5)


# --------------------------------------------------------------------------- reading the Markdown back

_GFM = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
ALLOWED_TAGS = {"h3", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "br", "code", "pre", "em"}


class _Page(HTMLParser):
    """Tags, attributes and table cells (``<br>`` as a newline) of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.rows: list[list[str]] = []
        self.code: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_page(markdown: str) -> _Page:
    page = _Page()
    page.feed(_GFM.render(markdown))
    page.close()
    return page


def assert_inert(markdown: str, page: _Page) -> None:
    """No HTML but ours, no attribute that runs anything, no line the Actions runner reads as a command."""
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS, page.tags
    for tag, attrs in page.tags:
        for name, value in attrs:
            assert (tag, name) in {("th", "style"), ("td", "style"), ("code", "class")}, (tag, name, value)
    for line in markdown.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "##[" not in markdown


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)


# --------------------------------------------------------------------------- table

def test_table_reads_back_cell_by_cell() -> None:
    md = render_markdown(SAMPLE)
    page = read_page(md)
    assert_inert(md, page)
    header, *rows = page.rows
    assert tuple(header) == TABLE_HEADER
    assert rows == [
        ["web", "✅ ok", "0", "41s", "2: failed → ok", "—", "—", "ami-0abc\nami-0def"],
        ["db", "⏱️ timeout", "124", "30s", "1", "timeout, retryable (rule wall-clock)", "raise --timeout", "—"],
    ]
    assert md.startswith("### ⏱️ hybridcore-packer build: timeout (exit 1)\n")
    assert "command 01JCMD · env dev · 2 targets · 42s · started 2025-03-04 10:00:00 UTC" in md
    assert "- ⚠️ variable 'x' is unused" in md


def test_result_models_render_like_their_dicts() -> None:
    cls = Classification(**NET)
    att = Attempt(attempt=1, exit_code=1, status="failed", classification=cls, run_dir="/r/1",
                  started_at=at(0), finished_at=at(3.25))
    tr = TargetResult(target="web", command="packer build", argv=["packer"], exit_code=1, status="failed",
                      stdout="", stderr="", run_dir="/r", started_at=at(0), finished_at=at(3.25),
                      retryable=True, classification=cls, attempts=[att])
    cr = CommandResult(command="build", command_id="01JX", env="dev", packer_version="1.6.6", exit_code=1,
                       status="failed", stdout="", stderr="", manifest_path=None, artifacts=[],
                       started_at=at(0), finished_at=at(4), retryable=True, classification=cls, targets=[tr],
                       run_dir="/r")
    rows = read_page(render_markdown(cr.to_dict())).rows
    assert rows[1] == ["web", "❌ failed", "1", "3.2s", "1", "network, retryable (rule net-timeout)",
                       "check the proxy", "—"]
    # `runs show CMD/target` has only the target's result.json: a one-row table of the same cells.
    alone = read_page(render_markdown(tr.to_dict())).rows
    assert alone[1] == rows[1]


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (-1.0, "—"), (float("nan"), "—"), (0.0, "0ms"), (0.0424, "42ms"), (3.25, "3.2s"),
    (0.9996, "1.0s"), (9.96, "10s"), (40.5, "41s"), (42.4, "42s"), (59.6, "1m 00s"), (187, "3m 07s"), (3725, "1h 02m"), (183600, "2d 03h"),
])
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


HOSTILE = [
    ("a|b", "a|b"),
    ("a\\|b", "a\\|b"),
    ("a\\", "a\\"),
    ("two\nlines", "two\nlines"),
    ("crlf\r\nline\rbreaks", "crlf\nline\nbreaks"),
    ("sep\u2028arated\x85x", "sep\narated\nx"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ('<img src=x onerror="alert(1)">', '<img src=x onerror="alert(1)">'),
    ("<!-- open comment", "<!-- open comment"),
    ("&lt;b&gt; &amp;", "&lt;b&gt; &amp;"),
    ("::error::pwned", "::error::pwned"),
    ("x\n::add-mask::secret", "x\n::add-mask::secret"),
    ("##[set-output name=a;]b", "##[set-output name=a;]b"),
    ("`code` ``two``", "`code` ``two``"),
    ("**bold** _it_ ~~del~~ $x^2$", "**bold** _it_ ~~del~~ $x^2$"),
    ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
    ("| --- | --- |", "| --- | --- |"),
    ("\x1b[31mred\x1b[0m\x07", "red"),
    ("\u202eevil\u2066", "evil"),
    ("%%{init: {'securityLevel': 'loose'}}%%", "%%{init: {'securityLevel': 'loose'}}%%"),
    ("#35; #quot; entity", "#35; #quot; entity"),
    ("a:b;c#d", "a:b;c#d"),
    ("section x", "section x"),
    ("2024-01-01 title", "2024-01-01 title"),
    ("\"double\" 'single'", "\"double\" 'single'"),
    ("tab\there", "tab here"),
]


@pytest.mark.parametrize(("hostile", "shown"), HOSTILE)
def test_hostile_text_stays_in_its_cell(hostile: str, shown: str) -> None:
    cls = {"category": "unknown", "retryable": False, "hint": hostile, "rule": "no-match"}
    result = command([target(hostile, "failed", [attempt(1, "failed", 0, 5)], cls=cls, image_ids=[hostile])],
                     status="failed", warnings=[hostile])
    md = render_markdown(result)
    page = read_page(md)
    assert_inert(md, page)
    assert len(page.rows) == 2 and all(len(r) == len(TABLE_HEADER) for r in page.rows), page.rows
    row = dict(zip(TABLE_HEADER, page.rows[1], strict=True))
    assert row["Target"] == shown
    assert row["Hint"] == shown
    assert row["Image IDs"] == shown
    assert row["Status"] == "❌ failed"
    [block] = mermaid_blocks(md)
    assert check_gantt(block) == []
    assert f"    section {mermaid_name(hostile)}\n" in block


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from(
    ["\n", "é", "漢", "😀"]), max_size=120), min_size=1, max_size=3))
def test_any_printable_names_round_trip(names: list[str]) -> None:
    result = command([target(name, "failed", [attempt(1, "failed", i, i + 2)],
                             cls={"category": "unknown", "retryable": False, "hint": name, "rule": "r"})
                      for i, name in enumerate(names)], status="failed")
    md = render_markdown(result)
    page = read_page(md)
    assert_inert(md, page)
    body = page.rows[1:]
    assert all(len(r) == len(TABLE_HEADER) for r in body)
    assert [r[0] for r in body] == [n.strip() if n else "?" for n in names]
    assert [r[6] for r in body] == [n.strip() if n else "—" for n in names]
    [block] = mermaid_blocks(md)
    assert check_gantt(block) == []


def test_escape_cell_clips_long_text() -> None:
    assert escape_cell("x" * 500, 10) == "x" * 9 + "…"
    assert escape_cell(None) == ""


@pytest.mark.parametrize("hostile", [h for h, _ in HOSTILE])
def test_mermaid_name_keeps_a_plain_alphabet(hostile: str) -> None:
    name = mermaid_name(hostile)
    assert name and name == name.strip() and len(name) <= 40
    assert not set(name) & set(":;#%\"'`<>|&\n\r\t\\{}*~$\x1b\u202e\u2028")


# --------------------------------------------------------------------------- gantt source

def test_gantt_has_a_section_per_target_and_a_bar_per_attempt() -> None:
    source, omitted = render_gantt(SAMPLE)
    assert omitted == 0
    assert check_gantt(source) == []
    lines = source.splitlines()
    assert lines[1:6] == ["gantt", "    title build 01JCMD timeout", "    dateFormat x",
                          "    axisFormat %H:%M:%S", "    todayMarker off"]
    start = int(T0.timestamp() * 1000)
    assert lines[6:] == [
        "    section web",
        f"    attempt 1 failed 12s :crit, t0a1, {start + 500}, {start + 12000}",
        f"    attempt 2 ok 28s :done, t0a2, {start + 13000}, {start + 41000}",
        "    section db",
        f"    attempt 1 timeout 30s :crit, t1a1, {start + 200}, {start + 30000}",
    ]
    assert mermaid_blocks(render_markdown(SAMPLE)) == [source]


@pytest.mark.parametrize(("span", "axis"), [
    (0.05, "%M:%S.%L"), (9.0, "%M:%S.%L"), (50.0, "%H:%M:%S"), (7200.0, "%H:%M"), (3 * 86400.0, "%d %b %H:%M"),
])
def test_axis_format_follows_the_span(span: float, axis: str) -> None:
    source, _ = render_gantt(command([target("t", "ok", [attempt(1, "ok", 0, span)])]))
    assert f"    axisFormat {axis}\n" in source


def test_unfinished_missing_and_instant_attempts() -> None:
    result = command([
        target("running", "interrupted", [attempt(1, "interrupted", 0, None)]),
        {"target": "no-attempts", "status": "refused", "started_at": at(1), "finished_at": at(2),
         "attempts": []},
        {"target": "never-started", "status": "refused", "attempts": []},
        target("instant", "ok", [attempt(1, "ok", 3, 3)]),
    ], status="interrupted")
    source, _ = render_gantt(result)
    assert check_gantt(source) == []
    start = int(T0.timestamp() * 1000)
    # The unfinished attempt runs to the last time the chart knows: the command's end.
    assert f"    attempt 1 interrupted unfinished :active, t0a1, {start}, {start + 60000}" in source
    assert f"    target refused 1.0s :crit, t1a1, {start + 1000}, {start + 2000}" in source
    assert "never-started" not in source
    assert f"    attempt 1 ok 0ms :done, t3a1, {start + 3000}, {start + 3001}" in source
    rows = read_page(render_markdown(result)).rows
    assert [r[3] for r in rows[1:]] == ["—", "1.0s", "—", "0ms"]


def test_no_timeline_without_times() -> None:
    result = {"command": "fmt", "status": "ok", "exit_code": 0, "targets": [{"target": "a", "status": "ok"}]}
    assert render_gantt(result) == ("", 0)
    md = render_markdown(result)
    assert "```" not in md
    assert read_page(md).rows[1][:5] == ["a", "✅ ok", "—", "—", "—"]


def test_empty_and_sparse_results_render() -> None:
    assert read_page(render_markdown({})).rows == []
    md = render_markdown({"warnings": "not a list", "targets": [
        {"target": "x", "attempts": "garbage", "artifacts": [None, {"image_ids": "ami-as-a-string"}]}]})
    assert "⚠️" not in md
    assert read_page(md).rows[1] == ["x", "❔ unknown", "—", "—", "—", "—", "—", "—"]


# --------------------------------------------------------------------------- size limits

def _many(count: int, attempts: int = 3) -> dict[str, Any]:
    return command([target(f"target-{i:05d}", "ok", [attempt(n, "ok", i + n, i + n + 0.5)
                                                      for n in range(1, attempts + 1)]) for i in range(count)])


def test_gantt_stays_under_mermaids_text_limit() -> None:
    source, omitted = render_gantt(_many(1000))
    assert len(source) <= MERMAID_TEXT_BUDGET
    assert check_gantt(source) == []
    drawn = source.count(":done,")
    assert drawn > 100 and drawn + omitted == 3000
    assert f"_{omitted} more attempts are not drawn: Mermaid limits a diagram's size._" in render_markdown(_many(1000))


def test_markdown_degrades_to_fit_the_limit() -> None:
    result = _many(200, attempts=1)
    full = render_markdown(result)
    small = render_markdown(result, limit=len(full.encode()) - 1)
    assert "```mermaid" not in small and "Timeline left out" in small
    assert len(read_page(small).rows) == 201
    tiny = render_markdown(result, limit=4000)
    assert len(tiny.encode()) <= 4000
    shown = len(read_page(tiny).rows) - 1
    assert 0 < shown < 200
    assert f"_{200 - shown} more targets not shown" in tiny
    assert render_markdown(result, limit=50) == ""
    big = _many(20_000, attempts=1)
    assert len(render_markdown(big).encode()) <= STEP_SUMMARY_LIMIT


# --------------------------------------------------------------------------- $GITHUB_STEP_SUMMARY

def test_append_needs_a_summary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary(SAMPLE) == 0
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "")
    assert append_step_summary(SAMPLE) == 0
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    written = append_step_summary(SAMPLE)
    assert path.read_text(encoding="utf-8") == render_markdown(SAMPLE)
    assert written == path.stat().st_size


@pytest.mark.parametrize(("before", "separator"), [("", ""), ("earlier", "\n\n"), ("earlier\n", "\n"),
                                                   ("earlier\n\n", "")])
def test_append_keeps_a_blank_line_between_summaries(tmp_path: Path, before: str, separator: str) -> None:
    path = tmp_path / "summary.md"
    path.write_text(before, encoding="utf-8")
    append_step_summary(SAMPLE, path)
    assert path.read_text(encoding="utf-8") == before + separator + render_markdown(SAMPLE)


def test_append_respects_what_is_left_of_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * (STEP_SUMMARY_LIMIT - 3000) + "\n\n")
    written = append_step_summary(_many(200, attempts=1), path)
    assert 0 < written <= 3000 - 2
    assert path.stat().st_size <= STEP_SUMMARY_LIMIT
    full = path.stat().st_size
    assert append_step_summary(SAMPLE, path) == 0
    assert path.stat().st_size == full


def test_append_leaves_write_errors_to_the_caller(tmp_path: Path) -> None:
    # The CLI decides what an unwritable summary means (a warning, never a failed build).
    with pytest.raises(IsADirectoryError):
        append_step_summary(SAMPLE, tmp_path)


def test_parallel_appends_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    results = [command([target(f"t{i}", "ok", [attempt(1, "ok", 0, 1)])]) for i in range(8)]
    threads = [threading.Thread(target=append_step_summary, args=(r, path)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each summary is whole, after the blank line that separates it from the one before.
    pieces = re.split(r"\n(?=### )", path.read_text(encoding="utf-8"))
    assert sorted(pieces) == sorted(render_markdown(r) for r in results)


# --------------------------------------------------------------------------- the real renderer

def _renderer() -> Any:
    renderer = find_renderer()
    if isinstance(renderer, str):
        pytest.skip(renderer)
    return renderer


def test_real_renderer_draws_every_summary(tmp_path: Path) -> None:
    subsecond = command([target("quick", "ok", [attempt(1, "failed", 0.0, 0.04), attempt(2, "ok", 0.05, 0.13)])])
    days = command([target("slow", "ok", [attempt(1, "ok", 0, 3 * 86400)])])
    hostile = command([target(h, "failed", [attempt(1, "failed", i, i + 1)]) for i, (h, _) in enumerate(HOSTILE)],
                      status="failed")
    odd = command([target("running", "interrupted", [attempt(1, "interrupted", 0, None)]),
                   {"target": "no-attempts", "status": "refused", "started_at": at(1), "finished_at": at(2)}])
    alone = SAMPLE["targets"][0]
    cases = [SAMPLE, subsecond, days, hostile, odd, alone]
    markdown = "\n".join(render_markdown(c) for c in cases)
    svgs = _renderer().render_markdown(markdown, tmp_path)
    assert len(svgs) == len(cases)
    facts = [gantt_facts(svg) for svg in svgs]
    for case, fact in zip(cases, facts, strict=True):
        source, _ = render_gantt(case)
        # Mermaid draws bars in start-time order: match them to the source by task id.
        tasks = [line.split(" :", 1) for line in source.splitlines() if line.startswith(("    attempt", "    target "))]
        expected = {data.split(", ")[1]: (text.strip(), data.split(",")[0]) for text, data in tasks}
        drawn = {b.id: (b.text.strip(), next(c.rstrip("0123456789") for c in b.classes if c != "task"))
                 for b in fact.bars}
        assert drawn == expected
        assert all(b.width > 0 for b in fact.bars), (fact.title, fact.bars)
        sections = [line.removeprefix("    section ") for line in source.splitlines() if "    section " in line]
        assert fact.sections == sections
        assert fact.title == source.splitlines()[2].removeprefix("    title ")
    bars = {b.id: b for b in facts[0].bars}
    assert bars["t0a1"].x + bars["t0a1"].width <= bars["t0a2"].x  # attempt 2 starts after attempt 1 ends
    assert bars["t1a1"].x < bars["t0a1"].x  # db's attempt started 0.3 s before web's
    assert facts[3].sections == [mermaid_name(h) for h, _ in HOSTILE]
    # A 130 ms build still has an axis: distinct millisecond ticks, not one repeated second.
    assert len(set(facts[1].ticks)) >= 3 and all(re.fullmatch(r"\d\d:\d\d\.\d{3}", t) for t in facts[1].ticks)


def test_real_renderer_rejects_what_the_sanitiser_prevents(tmp_path: Path) -> None:
    raw = "gantt\n    dateFormat x\n    section s\n    attempt 1: a:b :done, t0a1, 1000, 2000\n"
    assert check_gantt(raw) != []
    with pytest.raises(MermaidError, match=r"(?i)parse error|invalid"):
        _renderer().render(raw, tmp_path)
