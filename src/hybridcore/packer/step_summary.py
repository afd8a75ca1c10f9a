"""A command's GitHub Actions step summary: a Markdown table of targets and a Mermaid ``gantt`` timeline.

Pure functions over ``CommandResult.to_dict()`` (or one ``TargetResult.to_dict()``): no Rich, no CLI, no
clock, so ``runs show ID --markdown`` and the ``$GITHUB_STEP_SUMMARY`` writer print the same text.

Target names, hints, image ids and warnings come from users and from Packer, so they are untrusted:
table cells are escaped so that they can neither split the table nor inject HTML, and names inside the
Mermaid block are reduced to an alphabet that Mermaid's gantt lexer has no use for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MERMAID_TEXT_BUDGET",
    "STEP_SUMMARY_LIMIT",
    "append_step_summary",
    "escape_cell",
    "format_duration",
    "mermaid_name",
    "render_gantt",
    "render_markdown",
]

# GitHub refuses a step's whole summary when the file passes 1 MiB.
STEP_SUMMARY_LIMIT = 1024 * 1024
# Mermaid refuses diagrams over its maxTextSize (50,000 characters by default); keep clear of it.
MERMAID_TEXT_BUDGET = 40_000
CELL_CHARS = 300
NAME_CHARS = 40
MAX_IMAGE_IDS = 10
MAX_WARNINGS = 20

TABLE_HEADER = ("Target", "Status", "Exit", "Duration", "Attempts", "Classification", "Hint", "Image IDs")
_ALIGN = ("---", "---", "---:", "---:", "---", "---", "---", "---")

_ICONS = {"ok": "✅", "failed": "❌", "timeout": "⏱️", "interrupted": "⏹️", "refused": "⛔", "unformatted": "📝"}
# Mermaid task tags: done (grey), crit (red), active (blue, also for anything not finished).
_FAILED = frozenset({"failed", "timeout", "refused", "unformatted"})

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# Everything Python, browsers or the Actions runner may treat as a line break.
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Other controls, and bidi overrides that would make a cell display something other than its text.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Backslash: Markdown punctuation that means something inline (code, emphasis, links, strikethrough, math,
# table cells) plus '#', so no line carries a '##[' workflow command. Entities: anything HTML could start.
_CELL_ESCAPES = {c: "\\" + c for c in "\\`*_[]|~$#"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CELL_TABLE = str.maketrans(_CELL_ESCAPES)
# Inside the Mermaid block: ':' ends a task name, ';' and '#' end task data and form '#name;' entities,
# '%' starts comments and '%%{init}%%' directives, quotes and backticks open strings. Keep letters,
# digits and punctuation that no gantt rule gives a meaning to.
_MERMAID_SAFE = frozenset(" -_./+@=,()[]")


def _clean(value: object, max_chars: int) -> str:
    text = _ANSI.sub("", "" if value is None else str(value))
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text)).replace("\t", " ")
    return _clip(text.strip(), max_chars)


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def escape_cell(value: object, max_chars: int = CELL_CHARS) -> str:
    """``value`` as the inline content of one GFM table cell: it shows as plain text, line breaks as
    ``<br>``, and no character of it can end the cell, start markup or HTML, or a workflow command."""
    return _clean(value, max_chars).translate(_CELL_TABLE).replace("\n", "<br>")


def mermaid_name(value: object, max_chars: int = NAME_CHARS) -> str:
    """``value`` reduced to characters that are plain text anywhere in a Mermaid gantt line."""
    text = _ANSI.sub("", "" if value is None else str(value))
    kept = "".join(c if c.isalnum() or c in _MERMAID_SAFE else " " if c.isspace() else "_" for c in text)
    return _clip(" ".join(kept.split()), max_chars) or "_"


def format_duration(seconds: float | None) -> str:
    """``0.42 s`` → ``420ms``, then ``3.2s``, ``42s``, ``3m 07s``, ``1h 02m``, ``2d 03h``; ``—`` if unknown."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "—"
    # Thresholds sit where rounding would carry into the next unit ("1000ms", "10.0s").
    if seconds < 0.9995:
        return f"{round(seconds * 1000)}ms"
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # hybridcore writes UTC


def _span(record: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    return _time(record.get("started_at")), _time(record.get("finished_at"))


def _seconds(record: Mapping[str, Any]) -> float | None:
    start, end = _span(record)
    return (end - start).total_seconds() if start and end else None


def _mappings(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


def _texts(value: object) -> list[str]:
    return [str(v) for v in value if v not in (None, "")] if isinstance(value, list | tuple) else []


def _command(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``TargetResult`` dict (``runs show CMD/target``) becomes a one-target command."""
    if "targets" in result or "target" not in result:
        return result
    return {**result, "command": None, "command_id": None, "targets": [result]}


def _status(status: object) -> str:
    name = str(status) if status else "unknown"
    return f"{_ICONS.get(name, '❔')} {escape_cell(name, NAME_CHARS)}"


def _classification(target: Mapping[str, Any]) -> tuple[str, str]:
    cls = target.get("classification")
    if not isinstance(cls, Mapping) or cls.get("category") in (None, "ok"):
        return "—", "—"
    text = str(cls["category"]) + (", retryable" if cls.get("retryable") else "")
    if cls.get("rule"):
        text += f" (rule {cls['rule']})"
    hint = cls.get("hint")
    return escape_cell(text), escape_cell(hint) if hint else "—"


def _attempts(target: Mapping[str, Any]) -> str:
    attempts = _mappings(target.get("attempts"))
    if len(attempts) <= 1:
        return str(len(attempts) or "—")
    return escape_cell(f"{len(attempts)}: " + " → ".join(str(a.get("status") or "?") for a in attempts))


def _image_ids(target: Mapping[str, Any]) -> str:
    ids = [i for a in _mappings(target.get("artifacts")) for i in _texts(a.get("image_ids"))]
    cells = [f"<code>{escape_cell(i, 200)}</code>" for i in ids[:MAX_IMAGE_IDS]]
    if len(ids) > MAX_IMAGE_IDS:
        cells.append(f"+{len(ids) - MAX_IMAGE_IDS} more")
    return "<br>".join(cells) or "—"


def _row(target: Mapping[str, Any]) -> str:
    classification, hint = _classification(target)
    exit_code = target.get("exit_code")
    cells = (
        escape_cell(target.get("target") or "?", 200), _status(target.get("status")),
        escape_cell(exit_code) if exit_code is not None else "—", format_duration(_seconds(target)),
        _attempts(target), classification, hint, _image_ids(target),
    )
    return "| " + " | ".join(cells) + " |"


def _heading(cmd: Mapping[str, Any]) -> list[str]:
    status = cmd.get("status") or "unknown"
    title = " ".join(str(p) for p in ("hybridcore-packer", cmd.get("command")) if p)
    exit_code = cmd.get("exit_code")
    exit_text = f" (exit {escape_cell(exit_code)})" if exit_code is not None else ""
    lines = [f"### {_ICONS.get(str(status), '❔')} {escape_cell(title)}: {escape_cell(status)}{exit_text}", ""]
    facts = []
    if cmd.get("command_id"):
        facts.append(f"command {escape_cell(cmd['command_id'], 100)}")
    if cmd.get("env"):
        facts.append(f"env {escape_cell(cmd['env'], 100)}")
    count = len(_mappings(cmd.get("targets")))
    facts.append(f"{count} target{'s' if count != 1 else ''}")
    start, end = _span(cmd)
    if start and end:
        facts.append(format_duration((end - start).total_seconds()))
    if start:
        facts.append(f"started {start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    lines += [" · ".join(facts), ""]
    warnings = _texts(cmd.get("warnings"))
    lines += [f"- ⚠️ {escape_cell(w, 500)}" for w in warnings[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"- ⚠️ {len(warnings) - MAX_WARNINGS} more warnings")
    return [*lines, ""] if warnings else lines


def _tag(status: object) -> str:
    if status == "ok":
        return "done"
    return "crit" if status in _FAILED else "active"


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _bars(index: int, target: Mapping[str, Any], horizon: int | None) -> Iterator[tuple[str, int, int]]:
    """(task line without timing, start ms, end ms) per attempt; the target itself if it has no attempt.
    An attempt with no end (still running, or its process died) runs to ``horizon``, the chart's last time."""
    attempts = _mappings(target.get("attempts")) or [target]
    for n, attempt in enumerate(attempts, 1):
        start, end = _span(attempt)
        if start is None:
            continue
        begin = _ms(start)
        finish = max(_ms(end) if end else horizon or begin, begin + 1)  # Mermaid needs end > start
        label = f"attempt {attempt.get('attempt') or n}" if attempt is not target else "target"
        duration = format_duration((end - start).total_seconds()) if end else "unfinished"
        text = mermaid_name(f"{label} {attempt.get('status') or ''} {duration}", 60)
        yield f"    {text} :{_tag(attempt.get('status'))}, t{index}a{n}", begin, finish


def _axis_format(span_ms: int) -> str:
    # d3 time formats, chosen so neighbouring ticks differ: sub-minute builds get milliseconds.
    if span_ms < 10_000:
        return "%M:%S.%L"
    if span_ms < 3_600_000:
        return "%H:%M:%S"
    if span_ms < 86_400_000:
        return "%H:%M"
    return "%d %b %H:%M"


def render_gantt(result: Mapping[str, Any], budget: int = MERMAID_TEXT_BUDGET) -> tuple[str, int]:
    """The Mermaid gantt source (no fence) and how many bars did not fit in ``budget`` characters;
    ``("", 0)`` when no target has a start time."""
    cmd = _command(result)
    targets = _mappings(cmd.get("targets"))
    known = [_ms(t) for r in (cmd, *targets, *(a for t in targets for a in _mappings(t.get("attempts"))))
             if (t := _span(r)[1]) is not None]
    horizon = max(known) if known else None
    sections: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    for index, target in enumerate(targets):
        lines = [f"    section {mermaid_name(target.get('target'))}"]
        for text, begin, finish in _bars(index, target, horizon):
            lines.append(f"{text}, {begin}, {finish}")
            starts.append(begin)
            ends.append(finish)
        if len(lines) > 1:
            sections.append(lines)
    if not sections:
        return "", 0
    title = mermaid_name(" ".join(str(p) for p in (cmd.get("command"), cmd.get("command_id"), cmd.get("status"))
                                  if p), 80)
    # Section names are drawn left of the bars in leftPadding pixels (75 by default): widen it to fit them.
    longest = max(len(lines[0]) - len("    section ") for lines in sections)
    padding = min(300, max(75, 7 * longest + 24))
    head = [f'%%{{init: {{"gantt": {{"leftPadding": {padding}}}}}}}%%', "gantt", f"    title {title}",
            "    dateFormat x", f"    axisFormat {_axis_format(max(ends) - min(starts))}", "    todayMarker off"]
    used = sum(len(line) + 1 for line in head)
    out, omitted = list(head), 0
    for lines in sections:
        size = sum(len(line) + 1 for line in lines)
        if omitted or used + size > budget:
            omitted += len(lines) - 1
            continue
        out += lines
        used += size
    if len(out) == len(head):
        return "", omitted
    return "\n".join(out) + "\n", omitted


def _assemble(head: list[str], rows: list[str], hidden_rows: int, gantt: str, notes: list[str]) -> str:
    parts = list(head)
    if rows or hidden_rows:
        parts += ["| " + " | ".join(TABLE_HEADER) + " |", "| " + " | ".join(_ALIGN) + " |", *rows]
        if hidden_rows:
            parts += ["", f"_{hidden_rows} more targets not shown: the summary would pass GitHub's size limit._"]
        parts.append("")
    if gantt:
        parts += ["```mermaid", gantt.rstrip("\n"), "```", ""]
    parts += [f"_{note}_" for note in notes]
    return "\n".join(parts).rstrip("\n") + "\n"


def render_markdown(result: Mapping[str, Any], *, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """The step summary of one command (or one target) as Markdown, at most ``limit`` UTF-8 bytes:
    past it the timeline goes first, then table rows from the end; ``""`` if not even the heading fits."""
    cmd = _command(result)
    head = _heading(cmd)
    rows = [_row(t) for t in _mappings(cmd.get("targets"))]
    gantt, omitted = render_gantt(cmd)
    notes = [f"{omitted} more attempts are not drawn: Mermaid limits a diagram's size."] if omitted else []
    text = _assemble(head, rows, 0, gantt, notes)
    if len(text.encode()) <= limit:
        return text
    notes = ["Timeline left out: the summary would pass GitHub's size limit."] if gantt else []
    shown = len(rows)
    while True:
        text = _assemble(head, rows[:shown], len(rows) - shown, "", notes)
        if len(text.encode()) <= limit:
            return text
        if shown == 0:
            return ""
        # Drop rows in proportion to the excess rather than one by one: 10,000 targets stay fast.
        excess = len(text.encode()) - limit
        per_row = max(1, len(text.encode()) // max(1, shown + len(head)))
        shown = max(0, shown - max(1, excess // per_row))


def append_step_summary(result: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> int:
    """Append the summary to ``path`` (default ``$GITHUB_STEP_SUMMARY``); return the bytes written,
    0 when there is no such file to write to or no room left under GitHub's limit.

    The whole text goes in one locked ``O_APPEND`` write, after a blank line if the file does not end in
    one, so parallel commands in one step add whole summaries. ``OSError`` propagates: the caller
    decides whether a summary that could not be written fails the command (it should not)."""
    import fcntl

    target = path if path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return 0
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 2, size - 2) if size >= 2 else os.pread(fd, size, 0)
        separator = b"" if size == 0 or tail == b"\n\n" else b"\n" if tail.endswith(b"\n") else b"\n\n"
        text = render_markdown(result, limit=STEP_SUMMARY_LIMIT - size - len(separator))
        if not text:
            return 0
        view = memoryview(separator + text.encode())
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
        return written
    finally:
        os.close(fd)  # also releases the lock
