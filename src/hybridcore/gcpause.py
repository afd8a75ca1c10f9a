"""The cyclic garbage collector, paused while the console script starts a command.

Importing the CLI and the modules a command needs allocates a few hundred thousand objects and next to
no garbage, yet the collector walks the young ones every 700 allocations: ~8% of the CPU before Packer
starts (measured on the validate line). The console script pauses it (``pause``); it runs again once
Packer has started, or at once for a line that is not one command of ``cli/commands.py`` (``runs``,
``cache``, ``upgrade-check``...: ``resume``). ``drift``, ``plan`` and ``explain`` keep it off to their
end: what they allocate is freed by reference counting (a cold ``drift`` over 10,000 files peaks at
44.6 MB with it off, 44.1 MB with it on), and the process exits right after.
A library caller's collector is never touched: ``resume`` only undoes this module's own ``pause``.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]

_paused: list[bool] = []   # non-empty while this module holds the collector off


def pause() -> None:
    """Turn the collector off until ``resume``, unless someone else already did."""
    if gc.isenabled() and not _paused:
        gc.disable()
        _paused.append(True)


def resume() -> None:
    """Undo ``pause`` (a no-op when this module did not pause the collector)."""
    if _paused:
        _paused.clear()
        gc.enable()
