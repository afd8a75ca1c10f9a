"""Packer's output as it arrives, for a person: machine-readable lines shown as Packer's UI text,
stderr in red, each line prefixed with its target when several run at once."""

from __future__ import annotations

from hybridcore.packer.console.terminal import console
from hybridcore.packer.machine_readable import parse_line, ui_text
from hybridcore.packer.session import Observer


def line_printer(multi: bool) -> Observer:
    """An observer for the wrappers that prints every line (events are for the live view)."""
    out = console()

    def show(target: str, stream: str, line: str) -> None:
        if stream == "event":
            return
        ml = parse_line(line)
        if ml is not None:
            text = ui_text(ml)
            if text is None:
                return
            line = text
        prefix = f"[cyan]{target}[/] " if multi else ""
        style = "red" if stream == "stderr" else ""
        for part in line.splitlines() or [""]:
            out.print(prefix + (f"[{style}]" if style else ""), end="")
            out.out(part, highlight=False) if not style else out.print(part, style=style, markup=False)

    return show
