"""The Rich consoles every printer uses (Rich loads on first use: ``--json`` never needs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        # Logs and CI: never truncate tables to an assumed 80 columns.
        out = Console(stderr=stderr, highlight=False, soft_wrap=True, width=200)
    return out
