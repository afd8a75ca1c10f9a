"""Packer's output as it arrives, for a person: plain lines, one write each, prefixed by target.

Machine-readable lines are shown as Packer's UI text (errors in red), other stdout as it is; Packer's
stderr goes to stderr, in red. With several targets every line starts with the target's name padded to
the longest one and ``" | "``; the whole line is one write under one lock (``terminal.write_line``), so
lines of parallel targets never mix. No Rich call per line.
Used for pipes and CI logs, and on a terminal when there is no live table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hybridcore.packer.console.terminal import clean, colour, console, emit, is_terminal, styled, write_line
from hybridcore.packer.machine_readable import unescape

if TYPE_CHECKING:
    from rich.console import Console


def packer_text(line: str) -> tuple[list[str], bool] | None:
    """What a person reads of one line Packer printed, and whether it is an error; None to skip it
    (machine-readable data such as artifacts and timings).

    The same reading as ``machine_readable.parse_line`` + ``ui_text``, without building a
    ``MachineLine``: this runs on every line shown."""
    parts = line.rstrip("\r\n").split(",", 4)
    if len(parts) < 3 or not (parts[0].isascii() and parts[0].isdigit()):
        return [line], False
    if parts[2] != "ui" or len(parts) < 5:
        return None
    text = parts[4]
    if "%!(" in text or "\\" in text:
        text = unescape(text)
    return text.splitlines() or [""], parts[3] == "error"  # nothing unescapes to "error" but itself


class LinePrinter:
    """A console view that prints every line; ``multi``: prefix each with its target; ``split``: Packer's
    stderr to stderr (False: everything on stdout, for ``runs logs``).

    Per line: the text cleaned, coloured if the stream is a colour terminal (decided once), prefixed
    with the target's ready-made prefix, and one write under the output lock (``terminal.write_line``)."""

    def __init__(self, targets: Sequence[str] = (), *, multi: bool = False, split: bool = True) -> None:
        self.multi = multi
        self.split = split
        self.pad = max((len(t) for t in targets), default=0)
        self._heads: dict[tuple[str, bool], str] = {}
        self._colour: dict[bool, bool] = {}

    def _prefix(self, target: str | None) -> str:
        if not self.multi or not target:
            return ""
        return f"{target:<{self.pad}} | "

    def _on(self, stderr: bool) -> bool:
        on = self._colour.get(stderr)
        if on is None:
            on = self._colour[stderr] = colour(stderr)
        return on

    def _head(self, target: str, stderr: bool) -> str:
        head = self._heads.get((target, stderr))
        if head is None:
            prefix = self._prefix(target)
            head = self._heads[(target, stderr)] = (
                styled(clean(prefix), "cyan", stderr, on=self._on(stderr)) if prefix else "")
        return head

    def line(self, target: str, stream: str, line: str) -> None:
        shown = packer_text(line) if stream == "stdout" else ([line], True)
        if shown is None:
            return
        texts, is_error = shown
        stderr = self.split and stream == "stderr"
        head = self._head(target, stderr)
        style = "red" if is_error else None
        on = self._on(stderr)
        for text in texts:
            write_line(head + styled(clean(text), style, stderr, on=on), stderr)

    def message(self, target: str | None, text: str, style: str | None = None) -> None:
        """A line of the wrapper's own (retry, interrupt, timeout...), on stderr."""
        emit(text, prefix=self._prefix(target), prefix_style="cyan", style=style, stderr=True)

    def state(self, target: str, state: str, detail: str = "") -> None:
        """Plain lines have no table to update; states that matter arrive as messages."""

    def progress_console(self) -> Console | None:
        """Where a download's progress bar is drawn: stderr when it is a terminal; None in pipes and
        logs, where the download's ``download-progress`` events (the event log) say how it goes."""
        if not is_terminal(stderr=True):
            return None
        return console(stderr=True)
