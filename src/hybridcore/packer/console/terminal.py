"""Where every human line goes out: the one writer, the text cleaner, and the Rich consoles for tables.

Every line hybridcore prints for a person leaves through :func:`emit`: the prefix, the text and the
newline in **one** ``write()`` under one process-wide lock, so lines from parallel targets never tear
or swap prefixes, whatever thread prints them. Text that comes from Packer, templates or users passes
:func:`clean` first: terminal escapes (colours, OSC hyperlinks and titles) and other control characters
are removed, and a line can never become a GitHub Actions workflow command (``::cmd::`` at the start,
``##[cmd]`` anywhere), which the runner would otherwise execute. Rich is used only for tables and the
live view, always with :class:`rich.text.Text` cells, so no ``[markup]`` in a value is interpreted.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import threading
from typing import IO, TYPE_CHECKING

from hybridcore.packer.unshown import controls, escapes

if TYPE_CHECKING:
    from rich.console import Console

_ZWSP = "\u200b"   # breaks a workflow-command token without changing what a person reads
_LOCK = threading.RLock()   # one for stdout and stderr: both usually land on the same terminal or log

_SGR = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "magenta": "35", "dim": "2", "bold": "1"}


def clean(text: object) -> str:
    """One line of untrusted text made safe to print: no escapes, no controls, no workflow command."""
    line = str(text)
    # Most lines are printable (no escape, control, tab or bidi character can be in them: each of those
    # is unprintable, tests/unit/packer/test_unshown.py checks every code point): they skip the two
    # substitutions, which matters on every streamed line, and "✓ web: validate ok" compiles nothing.
    if not line.isprintable():
        # Escapes and controls a terminal does not show (one definition, shared with the redactor).
        line = controls().sub("", escapes().sub("", line).replace("\t", "    "))
    if "##[" in line:
        line = line.replace("##[", "##" + _ZWSP + "[")
    stripped = line.lstrip()
    if stripped.startswith("::"):
        # The Actions runner trims leading whitespace before looking for '::'.
        cut = len(line) - len(stripped)
        line = line[:cut] + ":" + _ZWSP + stripped[1:]
    return line


def clean_lines(text: object) -> list[str]:
    """Untrusted multi-line text as cleaned lines (every kind of line break splits)."""
    return [clean(part) for part in str(text).splitlines()] or [""]


def _stream(stderr: bool) -> IO[str]:
    return sys.stderr if stderr else sys.stdout


def is_terminal(stderr: bool = False) -> bool:
    try:
        return _stream(stderr).isatty()
    except (AttributeError, ValueError):
        return False


def colour(stderr: bool = False) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set or TERM is dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or is_terminal(stderr)


def width(stderr: bool = False) -> int | None:
    """Columns of the terminal, or None for a pipe or a log (no wrapping there: one line is one line)."""
    if not is_terminal(stderr):
        return None
    return shutil.get_terminal_size((80, 24)).columns


def styled(text: str, style: str | None, stderr: bool = False, *, on: bool | None = None) -> str:
    """``text`` (already clean) wrapped in the SGR codes of ``style`` (e.g. ``"bold red"``) on a colour
    terminal (``on``: that decision, already taken); as it is otherwise."""
    if not style or not (colour(stderr) if on is None else on):
        return text
    codes = ";".join(_SGR[s] for s in style.split() if s in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def emit(text: str, *, prefix: str = "", style: str | None = None, prefix_style: str | None = None,
         stderr: bool = False) -> None:
    """Write one line: ``prefix`` + cleaned ``text`` + newline, in a single write under the lock."""
    body = styled(clean(text), style, stderr)
    head = styled(clean(prefix), prefix_style, stderr) if prefix else ""
    write_line(head + body, stderr)


def write_line(text: str, stderr: bool = False) -> None:
    """``text`` (cleaned and styled already) and a newline: one write and a flush under the lock."""
    out = _stream(stderr)
    with _LOCK:
        try:
            out.write(text + "\n")
            out.flush()
        except (BrokenPipeError, ValueError):
            pass  # a closed pipe (| head) must not turn into a traceback


def emit_wrapped(text: str, *, lead: str = "", style: str | None = None, stderr: bool = True) -> None:
    """Prose (a hint, an error message): wrapped at word boundaries to the terminal's width under a
    hanging indent, never mid-word; unwrapped in pipes and logs. Each paragraph line is one write."""
    columns = width(stderr)
    for n, para in enumerate(clean_lines(text)):
        first = lead if n == 0 else " " * len(lead)
        if columns is None or len(first) + len(para) <= columns:
            emit(para, prefix=first, style=style, stderr=stderr)
            continue
        parts = textwrap.wrap(para, width=max(20, columns - len(lead)), break_long_words=False,
                              break_on_hyphens=False) or [""]
        for i, part in enumerate(parts):
            emit(part, prefix=first if i == 0 else " " * len(lead), style=style, stderr=stderr)


def console(stderr: bool = False, columns: int | None = None) -> Console:
    """A Rich console for tables: the terminal's width (80 when unknown), or a wide one for logs so a
    table never folds there."""
    from rich.console import Console

    if columns is not None:
        return Console(stderr=stderr, highlight=False, width=columns, no_color=not colour(stderr))
    if is_terminal(stderr):
        return Console(stderr=stderr, highlight=False, no_color=not colour(stderr))
    return Console(stderr=stderr, highlight=False, width=200, no_color=True, color_system=None)


def output_lock() -> threading.RLock:
    """The lock :func:`emit` holds; the live view takes it around its own redraws."""
    return _LOCK
