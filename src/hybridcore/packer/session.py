"""One command's session: what was asked, and where its events and records go.

Built by the runner once the event log and the state store are open, so creating one does no I/O;
shared read-only by the runner, each attempt and the results (only ``warnings`` and
``fail_fast_tripped`` change, from worker threads: appends and a flag, both atomic).

Events the console can say (``Session.emit``): each goes to the command's event log as
``{"event": name, **fields}`` and to the observer as stream ``"event"``, line ``"<name>:<fields as
JSON>"`` (``start:<n>`` and ``finish:<status>`` keep their older plain forms). Target ``"*"``: the
whole command.

- ``interrupt`` (target ``*``): ``signal`` (``SIGINT``/``SIGTERM``), ``grace_s`` ([build] kill_grace),
  ``kill`` (True for a second Ctrl-C: SIGKILL at once).
- ``stopping``: no fields; the event's target (its ``target``) is being stopped (interrupt, --fail-fast).
- ``escalate``: ``signal`` (``SIGTERM`` | ``SIGKILL``); the grace ran out (or a second Ctrl-C).
- ``timeout``: ``seconds``; the Packer run reached --timeout / the target's / [build] timeout.
- ``retry``: ``attempt``, ``of`` (attempts allowed), ``category``, ``wait_s``.
- ``lock_wait``: ``holder`` ({host, pid, command_id} or None), ``timeout_s``; waiting for the build
  lock that another build of the same (target, env) holds.
- ``abandoned`` (target ``*``): ``run_id``, ``why``; an earlier run whose wrapper died, swept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.config import Project
from hybridcore.packer.plan import Kind
from hybridcore.packer.process import Cancel

if TYPE_CHECKING:
    from hybridcore.logs import EventLog
    from hybridcore.packer.classify import Rule
    from hybridcore.state import StateStore

Observer = Callable[[str, str, str], None]        # (target, stream, redacted line); stream "event" too


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How targets run. ``fmt`` and ``validate`` use the defaults except ``timeout``."""

    parallel: int | None = None      # targets at once; None: one per CPU (fmt: always one)
    retries: int = 0                 # re-runs of a retryable failure
    fail_fast: bool = False          # interrupt the other targets when one fails
    timeout: float | None = None     # seconds per Packer run; None: the target's, else [build] timeout
    use_cache: bool = True           # shared download cache (build)
    cache_dir: Path | None = None    # None: the project's default cache folder
    lock_timeout: float = 0.0        # build: seconds to wait for another build of (target, env)


@dataclass(eq=False)
class Session:
    """One command's running values, shared by its targets' worker threads."""

    kind: Kind
    project: Project
    packer: PackerBinary
    options: RunOptions
    command_id: str
    env: str                         # HYBRIDCORE_ENV
    started_at: str
    events: EventLog
    store: StateStore
    observer: Observer | None = None
    cancel: Cancel = field(default_factory=Cancel)
    rules: Sequence[Rule] | None = None   # the project's classification rules; None: the built-in ones
    fail_fast_tripped: bool = False       # targets were interrupted by --fail-fast, not by the operator
    operator_stopped: bool = False        # Ctrl-C/SIGTERM reached the command: nothing is "cancelled"
    warnings: list[str] = field(default_factory=list)   # found while running (plan warnings are apart)
    # Set once the first Packer process runs: work that only overlaps with Packer waits for it, so it
    # never holds the GIL while a worker is still starting Packer.
    packer_started: threading.Event = field(default_factory=threading.Event)

    @property
    def run_root(self) -> Path:
        return self.project.state_dir / "runs" / self.command_id

    @property
    def cache_dir(self) -> Path:
        return self.options.cache_dir or self.project.default_cache_dir

    def timeout_for(self, target_timeout: float | None) -> float | None:
        """Seconds one Packer run may take: --timeout, else the target's, else [build] timeout."""
        return self.options.timeout or target_timeout or self.project.build_timeout

    def notify(self, target: str, stream: str, line: str) -> None:
        if self.observer is not None:
            self.observer(target, stream, line)

    def emit(self, target: str, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
        """One of the events above: event log and observer. A full disk never stops a command here."""
        with contextlib.suppress(OSError):
            self.events.event(target, name, level, **fields)
        self.notify(target, "event", f"{name}:{json.dumps(fields, default=str, separators=(',', ':'))}")
