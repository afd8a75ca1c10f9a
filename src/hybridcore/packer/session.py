"""One command's session: what was asked, and where its events and records go.

Built by the runner once the event log and the state store are open, so creating one does no I/O;
shared read-only by the runner, each attempt and the results (only ``warnings`` and
``fail_fast_tripped`` change, from worker threads: appends and a flag, both atomic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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


@dataclass(eq=False)
class Session:
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
    warnings: list[str] = field(default_factory=list)   # found while running (plan warnings are apart)

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
