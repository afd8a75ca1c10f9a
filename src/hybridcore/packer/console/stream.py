"""Packer's output as it arrives, for a person: plain lines, one write each, prefixed by target.

Machine-readable lines are shown as Packer's UI text (errors in red), other stdout as it is; Packer's
stderr goes to stderr, in red. With several targets every line starts with the target's name padded to
the longest one and ``" | "``; the whole line is one write (``terminal.emit``), so lines of parallel targets never mix.
Used for pipes and CI logs, and on a terminal when there is no live table.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybridcore.packer.console.terminal import emit
from hybridcore.packer.machine_readable import parse_line


def packer_text(line: str) -> tuple[list[str], bool] | None:
    """What a person reads of one line Packer printed, and whether it is an error; None to skip it
    (machine-readable data such as artifacts and timings)."""
    ml = parse_line(line)
    if ml is None:
        return [line], False
    if ml.type != "ui" or len(ml.data) < 2:
        return None
    return ",".join(ml.data[1:]).splitlines() or [""], ml.data[0] == "error"


class LinePrinter:
    """A console view that prints every line; ``multi``: prefix each with its target; ``split``: Packer's
    stderr to stderr (False: everything on stdout, for ``runs logs``)."""

    def __init__(self, targets: Sequence[str] = (), *, multi: bool = False, split: bool = True) -> None:
        self.multi = multi
        self.split = split
        self.pad = max((len(t) for t in targets), default=0)

    def _prefix(self, target: str | None) -> str:
        if not self.multi or not target:
            return ""
        return f"{target:<{self.pad}} | "

    def line(self, target: str, stream: str, line: str) -> None:
        shown = packer_text(line) if stream == "stdout" else ([line], True)
        if shown is None:
            return
        texts, is_error = shown
        prefix = self._prefix(target)
        for text in texts:
            emit(text, prefix=prefix, prefix_style="cyan", style="red" if is_error else None,
                 stderr=self.split and stream == "stderr")

    def message(self, target: str | None, text: str, style: str | None = None) -> None:
        """A line of the wrapper's own (retry, interrupt, timeout...), on stderr."""
        emit(text, prefix=self._prefix(target), prefix_style="cyan", style=style, stderr=True)

    def state(self, target: str, state: str, detail: str = "") -> None:
        """Plain lines have no table to update; states that matter arrive as messages."""
