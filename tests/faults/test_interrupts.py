"""Ctrl-C, SIGTERM, --timeout and SIGKILL against a provisioner child that ignores SIGINT and SIGTERM
(DESIGN.md, "Interrupts, crashes and multi-runner state").

The child is a shell-local script that runs ``trap '' INT TERM`` and then blocks opening a FIFO nobody
writes: only SIGKILL ends it, and it holds Packer's pipes open. The test knows it is there because it
first writes its pid into another FIFO (support.Gate), so no test sleeps to "let the build start".
``[build] kill_grace = 1``: the wrapper must return within 2 * 1 + 5 seconds of the signal.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.faults.support import (
    KILL_GRACE,
    Project,
    Running,
    kill_group,
    null_template,
    pgid_of,
    private_folders,
    runs_json,
    wait_gone,
)

BOUND = 2 * KILL_GRACE + 5   # the contract: seconds from the signal (or the timeout) to the wrapper's exit
HANG = BOUND + 1             # past this the wrapper is hanging: the test kills everything and fails


@dataclass
class Blocked:
    running: Running
    shell: int          # the provisioner's shell, ignoring INT and TERM
    pgid: int           # Packer's process group
    reached_at: float   # monotonic time the child was seen blocked
    private: set[Path]  # the run's private temp folder(s), as Packer sees them


def blocked_build(project: Project, *args: str) -> Blocked:
    gate = project.gate()
    project.toml(f'[build]\nkill_grace = {KILL_GRACE}\n\n[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["echo greeting ${var.greeting}", *gate.inline(ignore_signals=True)],
                                             variables='variable "greeting" {\n  type = string\n}\n'))
    given = ["--var", "greeting=hello"]
    checked = project.run("validate", "a", *given)
    assert checked.returncode == 0, checked.output
    running = project.start("build", "a", *given, *args)
    shell = gate.wait(running.proc)
    reached = time.monotonic()
    pgid = pgid_of(shell)
    assert pgid is not None
    project.watch(pgid)
    return Blocked(running, shell, pgid, reached, private_folders(project, running.pid))


def build_row(project: Project) -> dict[str, object]:
    rows = [r for r in runs_json(project) if r["kind"] == "build"]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(("sig", "status"), [
    pytest.param(signal.SIGINT, "interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, "interrupted", id="SIGTERM"),
])
def test_signal_to_wrapper_stops_a_stubborn_child(project: Project, sig: signal.Signals, status: str) -> None:
    blocked = blocked_build(project)
    os.kill(blocked.running.pid, sig)
    signalled = time.monotonic()
    result = blocked.running.finish(HANG)
    took = time.monotonic() - signalled
    survivors = wait_gone(blocked.pgid, [blocked.shell], 3.0)
    assert took <= BOUND, f"returned {took:.1f} s after {sig.name} (bound {BOUND} s)"
    assert result.returncode == 130, result.output[-2000:]
    assert survivors == [], f"processes of Packer's group survived: {survivors}"
    assert build_row(project)["status"] == status


def test_timeout_stops_a_stubborn_child(project: Project) -> None:
    timeout = 5.0
    blocked = blocked_build(project, "--timeout", str(timeout))
    result = blocked.running.finish(timeout + HANG)
    # The clock starts when Packer starts, which is before the child was seen: a safe upper bound.
    took = time.monotonic() - blocked.reached_at
    survivors = wait_gone(blocked.pgid, [blocked.shell], 3.0)
    assert took <= timeout + BOUND, f"returned {took:.1f} s after the child blocked (bound {timeout + BOUND} s)"
    assert result.returncode == 75, result.output[-2000:]
    assert survivors == [], f"processes of Packer's group survived: {survivors}"
    assert build_row(project)["status"] not in ("running", "ok")


def test_sigkill_of_wrapper_takes_packer_along(project: Project) -> None:
    blocked = blocked_build(project)
    os.kill(blocked.running.pid, signal.SIGKILL)
    blocked.running.proc.wait()
    survivors = wait_gone(blocked.pgid, [blocked.shell], 5.0)
    assert survivors == [], f"alive 5 s after the wrapper was killed: {survivors}"


def test_next_command_marks_killed_run_abandoned(project: Project) -> None:
    blocked = blocked_build(project)
    assert blocked.private, "no private temp folder seen for the run"
    os.kill(blocked.running.pid, signal.SIGKILL)
    blocked.running.proc.wait()
    # This rule is about the bookkeeping, not about who kills Packer: make sure it is gone.
    kill_group(blocked.pgid)
    assert wait_gone(blocked.pgid, [blocked.shell], 10.0) == []
    status = build_row(project)["status"]
    left = sorted(str(p) for p in blocked.private if p.exists())
    assert (status, left) == ("abandoned", []), f"run {status!r}; private temp folders left behind: {left}"


def test_interrupt_stops_only_targets_still_running(project: Project) -> None:
    gate = project.gate()
    project.toml(f'[build]\nkill_grace = {KILL_GRACE}\n\n[targets.quick]\ntemplate = "q.pkr.hcl"\n\n'
                 '[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("q.pkr.hcl", null_template(["echo done"]))
    project.write("t.pkr.hcl", null_template(gate.inline()))
    assert project.run("validate", "quick", "a").returncode == 0
    # One worker: quick has ended (its future done) before a's provisioner reaches the gate.
    running = project.start("build", "quick", "a", "--parallel", "1")
    gate.wait(running.proc)
    os.kill(running.pid, signal.SIGINT)
    result = running.finish(HANG)
    assert result.returncode == 130, result.output[-2000:]
    log = max((project.root / ".hybridcore" / "logs").glob("*.jsonl")).read_text()
    stopping = sorted({e["target"] for e in map(json.loads, log.splitlines())
                       if e.get("event") == "stopping"})
    assert stopping == ["a"], stopping
    statuses = {r["target"]: r["status"] for r in runs_json(project) if r["kind"] == "build"}
    assert statuses == {"quick": "ok", "a": "interrupted"}, statuses
