"""Progress of an upgrade-check as it goes: one event before and one after each slow thing.

A check runs for as long as its smoke builds take, twice (an hour on real vSphere), so the caller gets
an event when a sandbox is being created and before and after each step of each target, and
:func:`progress_line` turns one into the line a person reads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from hybridcore.packer.upgrade.outcomes import Label

ProgressStep = Literal["sandbox", "fmt", "validate", "build"]
Phase = Literal["started", "finished"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of one binary starting or finishing. ``target`` is None for the sandbox copy;
    ``status`` (a step's status, ``error`` for a refusal or failure, ``interrupted`` for Ctrl-C) and
    ``elapsed`` (seconds) are set on ``finished`` events only."""

    label: Label
    version: str
    step: ProgressStep
    target: str | None
    phase: Phase
    status: str | None = None
    elapsed: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]


def progress_line(event: ProgressEvent) -> str:
    """``[B 1.6.6] build vsphere ...`` when a step starts, ``... ok (42.1 s)`` appended when it ends."""
    what = event.step if event.target is None else f"{event.step} {' '.join(event.target.split())}"
    line = f"[{event.label} {event.version}] {what} ..."
    if event.phase == "started":
        return line
    return f"{line} {event.status} ({event.elapsed or 0.0:.1f} s)"


class _Finish:
    """What the ``finished`` event will say; the body of :func:`announce` sets ``status``."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = "error"           # unless the body says otherwise, it raised


@contextlib.contextmanager
def announce(emit: ProgressCallback | None, label: Label, version: str, step: ProgressStep,
             target: str | None = None) -> Iterator[_Finish]:
    """Emit ``started``, run the body, then emit ``finished`` with the status the body set, also when
    it raised (``interrupted`` for Ctrl-C, else ``error``), so a listener never sees a step hang open."""
    finish = _Finish()
    if emit is not None:
        emit(ProgressEvent(label, version, step, target, "started"))
    start = time.monotonic()
    try:
        yield finish
    except KeyboardInterrupt:
        finish.status = "interrupted"
        raise
    except BaseException:
        finish.status = "error"
        raise
    finally:
        if emit is not None:
            emit(ProgressEvent(label, version, step, target, "finished", finish.status,
                               time.monotonic() - start))
