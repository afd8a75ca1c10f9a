"""Mermaid for tests: the real renderer (mermaid-cli driving Debian's chromium) and a strict gantt checker.

``scripts/install-mermaid.sh`` (run by ``scripts/install-deps.sh``) installs ``@mermaid-js/mermaid-cli`` as
pinned by ``tests/support/mermaid-cli/package-lock.json`` into ``.tools/mermaid``, and chromium from
Debian. ``find_renderer()`` returns a ``MermaidRenderer`` or the reason there is none;
``MermaidRenderer.render_markdown`` turns every Mermaid block of a Markdown text into SVG in one browser
start (~2 s), and ``gantt_facts`` reads the bars, sections and title back out of an SVG.

``check_gantt`` is the fast, offline half: the subset of Mermaid's gantt grammar (its jison lexer rules,
``dateFormat x``) that the step summary emits, strict enough to run under hypothesis on every example.

As a script, renders a Markdown or .mmd file::

    python -m tests.support.mermaid IN OUT_DIR
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / ".tools" / "mermaid"
RENDER_TIMEOUT = 180.0
_SVG = "{http://www.w3.org/2000/svg}"
_FENCE = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)


class MermaidError(RuntimeError):
    """mmdc refused a diagram (its message says which and why)."""


@dataclass(frozen=True)
class MermaidRenderer:
    mmdc: Path
    chromium: Path

    def render_markdown(self, markdown: str, workdir: Path | None = None) -> list[str]:
        """The SVG of every ```mermaid block of ``markdown``, in order; ``MermaidError`` if any fails."""
        blocks = len(_FENCE.findall(markdown))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            folder = Path(tmp)
            config = folder / "puppeteer.json"
            # Root in a container: chromium's sandbox cannot start, and there is no GPU.
            config.write_text(json.dumps({"executablePath": str(self.chromium),
                                          "args": ["--no-sandbox", "--headless", "--disable-gpu"]}))
            source = folder / "in.md"
            source.write_text(markdown, encoding="utf-8")
            proc = subprocess.run([str(self.mmdc), "--quiet", "-p", str(config), "-i", str(source),
                                   "-o", str(folder / "out.md")],
                                  capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                                  env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}, check=False)
            if proc.returncode != 0:
                raise MermaidError(f"mmdc exit {proc.returncode}: {proc.stderr.strip()[:2000]}")
            svgs = [folder / f"out-{n}.svg" for n in range(1, blocks + 1)]
            missing = [p.name for p in svgs if not p.exists()]
            if missing:
                raise MermaidError(f"mmdc exit 0 but wrote no {', '.join(missing)}")
            return [p.read_text(encoding="utf-8") for p in svgs]

    def render(self, source: str, workdir: Path | None = None) -> str:
        """One Mermaid diagram's SVG."""
        return self.render_markdown(f"```mermaid\n{source.rstrip()}\n```\n", workdir)[0]


def find_renderer() -> MermaidRenderer | str:
    """The installed renderer, or why there is none (and the command that installs it)."""
    folder = Path(os.environ.get("HYBRIDCORE_MERMAID_DIR") or DEFAULT_DIR)
    mmdc = folder / "node_modules" / ".bin" / "mmdc"
    chromium = Path(os.environ.get("HYBRIDCORE_CHROMIUM") or "/usr/bin/chromium")
    missing = [str(p) for p in (mmdc, chromium) if not os.access(p, os.X_OK)]
    if missing:
        return f"no {' and no '.join(missing)}: run scripts/install-mermaid.sh"
    return MermaidRenderer(mmdc=mmdc, chromium=chromium)


@dataclass(frozen=True)
class Bar:
    id: str
    classes: frozenset[str]
    text: str
    x: float
    width: float


@dataclass(frozen=True)
class GanttFacts:
    title: str
    sections: list[str]
    bars: list[Bar]
    ticks: list[str]


def _text(node: ET.Element) -> str:
    return "".join(node.itertext())


def gantt_facts(svg: str) -> GanttFacts:
    """What a rendered gantt shows: its title, section labels, bars (in source order) and axis ticks."""
    root = ET.fromstring(svg)
    if root.get("aria-roledescription") != "gantt":
        raise AssertionError(f"not a gantt SVG: {root.get('aria-roledescription')!r}")
    prefix = root.get("id", "") + "-"
    texts = {n.get("id"): _text(n) for n in root.iter(f"{_SVG}text") if n.get("id")}
    bars = []
    for rect in root.iter(f"{_SVG}rect"):
        classes = frozenset((rect.get("class") or "").split())
        if "task" in classes and rect.get("id"):
            rid = rect.get("id", "")
            bars.append(Bar(id=rid.removeprefix(prefix), classes=classes, text=texts.get(f"{rid}-text", ""),
                            x=float(rect.get("x", "nan")), width=float(rect.get("width", "nan"))))
    sections = [_text(n) for n in root.iter(f"{_SVG}text") if "sectionTitle" in (n.get("class") or "").split()]
    titles = [_text(n) for n in root.iter(f"{_SVG}text") if n.get("class") == "titleText"]
    ticks = [_text(t) for g in root.iter(f"{_SVG}g") if g.get("class") == "tick" for t in g.iter(f"{_SVG}text")]
    return GanttFacts(title=titles[0] if titles else "", sections=sections, bars=bars, ticks=ticks)


# --------------------------------------------------------------------------- strict syntax check

# Statements that Mermaid's gantt lexer recognises at the start of a token (case-insensitive); a task
# name starting with one of them would be read as that statement instead.
_KEYWORDS = re.compile(
    r"(gantt\b|dateformat\s|inclusiveenddates\b|topaxis\b|axisformat\s|tickinterval\s|includes\s|excludes\s"
    r"|todaymarker\s|weekday\s|weekend\s|\d\d\d\d-\d\d-\d\d\b|title\s|accdescription\s|section\s|acctitle\s*:"
    r"|accdescr\s*[:{]|click\s|href\s|call\s|%)", re.IGNORECASE)
_ENTITY = re.compile(r"#\w+;")  # Mermaid rewrites these before parsing (its encodeEntities)
_DIRECTIVE = re.compile(r'%%\{init: \{"gantt": \{"leftPadding": \d+\}\}\}%%')
_TASK = re.compile(r"^(?P<text>[^:\n]+):(?P<data>[^#\n;]+)$")
_TAGS = frozenset({"done", "crit", "active", "milestone"})
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_AXIS = re.compile(r"^(%[a-zA-Z]|[ :.\-/])+$")


def check_gantt(source: str) -> list[str]:
    """Problems in ``source`` (no fence) against the gantt subset the step summary emits; [] if none."""
    problems: list[str] = []
    lines = source.rstrip("\n").split("\n")
    if lines and _DIRECTIVE.fullmatch(lines[0]):
        lines = lines[1:]
    if not lines or lines[0] != "gantt":
        return ["first line is not 'gantt'"]
    ids: set[str] = set()
    tasks_in_section: int | None = None
    seen = {"dateFormat": 0, "tasks": 0}
    for n, raw in enumerate(lines[1:], 2):
        line = raw.strip()
        where = f"line {n} {raw!r}"
        if not line:
            continue
        if "%" in raw and not raw.lstrip().startswith("axisFormat "):
            problems.append(f"{where}: '%' starts a Mermaid comment or directive")
        if _ENTITY.search(raw):
            problems.append(f"{where}: '#name;' is rewritten as an entity by Mermaid")
        if any(q in raw for q in "`'\""):
            problems.append(f"{where}: quote or backtick")
        if line.startswith("title "):
            if not line[6:].strip():
                problems.append(f"{where}: empty title")
        elif line == "dateFormat x":
            seen["dateFormat"] += 1
        elif line.startswith("axisFormat "):
            if not _AXIS.match(line[11:]):
                problems.append(f"{where}: axisFormat is not a d3 time format")
        elif line == "todayMarker off":
            pass
        elif line.startswith("section "):
            if tasks_in_section == 0:
                problems.append(f"{where}: the previous section has no task")
            if not line[8:].strip():
                problems.append(f"{where}: empty section name")
            tasks_in_section = 0
        else:
            problems += _check_task(where, line, ids)
            seen["tasks"] += 1
            tasks_in_section = (tasks_in_section or 0) + 1
    if seen["dateFormat"] != 1:
        problems.append("expected exactly one 'dateFormat x'")
    if not seen["tasks"] or tasks_in_section == 0:
        problems.append("a section (or the chart) has no task")
    return problems


def _check_task(where: str, line: str, ids: set[str]) -> list[str]:
    match = _TASK.match(line)
    if not match:
        return [f"{where}: not 'name :data' (a ':' in the name, or '#'/';' in the data)"]
    text, parts = match["text"].strip(), [p.strip() for p in match["data"].split(",")]
    problems = []
    if not text:
        problems.append(f"{where}: empty task name")
    if _KEYWORDS.match(text):
        problems.append(f"{where}: task name starts with a gantt keyword")
    if len(parts) < 3:
        return [*problems, f"{where}: expected tags, id, start, end"]
    *tags, task_id, start, end = parts
    if not set(tags) <= _TAGS or len(set(tags)) != len(tags):
        problems.append(f"{where}: unknown or repeated tags {tags}")
    if not _ID.match(task_id) or task_id in ids:
        problems.append(f"{where}: bad or repeated id {task_id!r}")
    ids.add(task_id)
    if not (start.isdigit() and end.isdigit()):
        problems.append(f"{where}: start and end must be Unix milliseconds ('dateFormat x')")
    elif int(end) <= int(start):
        problems.append(f"{where}: end {end} is not after start {start}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tests.support.mermaid IN OUT_DIR", file=sys.stderr)
        return 2
    renderer = find_renderer()
    if isinstance(renderer, str):
        print(renderer, file=sys.stderr)
        return 1
    text = Path(args[0]).read_text(encoding="utf-8")
    if not _FENCE.search(text):
        text = f"```mermaid\n{text.rstrip()}\n```\n"
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    for n, svg in enumerate(renderer.render_markdown(text), 1):
        (out / f"diagram-{n}.svg").write_text(svg, encoding="utf-8")
        print(out / f"diagram-{n}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
