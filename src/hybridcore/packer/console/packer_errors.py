"""Packer's own error messages, out of what it printed: the real error, instead of "see stdout.log".

With ``-machine-readable`` (build) Packer reports each failed build twice in structured form: a
``<build>,error,<message>`` line and ``ui,error`` lines (``Build 'b' errored after 3s: msg``,
``--> b: msg``; with ``-on-error=abort`` also ``==> b: msg``), plus a ``ui,error`` header "Some
builds didn't complete successfully". Without it (validate, fmt) errors are HCL diagnostics:
``Error: <summary>``, a location, a detail paragraph. :func:`error_lines` returns each error once,
in order, as ``"<build>: <message>"`` or the diagnostic text (blank lines and "(source code not
available)" removed).
"""

from __future__ import annotations

import re

from hybridcore.packer.machine_readable import parse_line

MAX_ERRORS = 20
MAX_CHARS = 2000

_HEADER = re.compile(r"^\s*(==> )?Some builds didn't complete successfully", re.I)
_BUILD_ERRORED = re.compile(r"^Build '([^']+)' errored(?: after [^:]*)?: (.*)$", re.S)
_ARROW = re.compile(r"^--> ([^:]+): (.*)$", re.S)
_STEP = re.compile(r"^==> ([^:]+): (.*)$", re.S)  # -on-error=abort prints the step's error this way too
_DIAGNOSTIC = re.compile(r"^(Error|\?{3,}): ")


def _normal(text: str) -> str:
    text = text.strip()
    for pattern in (_BUILD_ERRORED, _ARROW, _STEP):
        m = pattern.match(text)
        if m:
            return f"{m.group(1)}: {m.group(2).strip()}"
    return text


def _tidy(block: str) -> str:
    lines = [ln.rstrip() for ln in block.splitlines()]
    kept = [ln for ln in lines if ln.strip() and ln.strip() != "(source code not available)"]
    text = "\n".join(kept).strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _diagnostics(text: str) -> list[str]:
    """``Error: ...`` blocks of plain (not machine-readable) output, each up to the next one."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if parse_line(line) is not None:
            continue
        if _DIAGNOSTIC.match(line):
            blocks.append([line])
        elif blocks and len(blocks[-1]) < 12:
            blocks[-1].append(line)
    return [_tidy("\n".join(b)) for b in blocks]


def error_lines(stdout: str, stderr: str = "") -> list[str]:
    """Packer's error messages in ``stdout``/``stderr`` (already redacted text), each once."""
    found: list[str] = []
    seen: set[str] = set()

    def add(message: str) -> None:
        message = _tidy(message)
        key = _normal(message)
        if message and key not in seen and len(found) < MAX_ERRORS:
            seen.add(key)
            found.append(key)

    structured: list[str] = []
    ui: list[str] = []
    for line in stdout.splitlines():
        ml = parse_line(line)
        if ml is None:
            continue
        if ml.type == "error" and ml.target and ml.data:
            structured.append(f"{ml.target}: {','.join(ml.data)}")
        elif ml.type == "ui" and len(ml.data) >= 2 and ml.data[0] == "error":
            text = ",".join(ml.data[1:]).strip()
            if text and not _HEADER.match(text):
                ui.append(text)
    for message in structured + ui:
        add(message)
    for message in _diagnostics(stdout) + _diagnostics(stderr):
        add(message)
    return found


def headline(error: str) -> str:
    """The first line of one error, for one-line views (the live table)."""
    return error.strip().splitlines()[0] if error.strip() else ""
