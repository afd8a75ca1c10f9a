"""The CLI on a real pseudo-terminal: what a person at a terminal sees when pressing Ctrl-C, the live
table's states during a parallel build, and tables at 80 columns."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pexpect
from tests.unit.conftest import ARTIFACT_OUT, FakePacker

CLI = [sys.executable, "-m", "hybridcore.packer.cli"]
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")


def spawn(project: Path, *args: str, columns: int = 80) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "24"}
    env.pop("NO_COLOR", None)
    return pexpect.spawn(CLI[0], [*CLI[1:], *args], cwd=str(project), env=env, dimensions=(24, columns),
                         encoding="utf-8", timeout=60)


def cell(target: str, state: str) -> str:
    """A live-table row of ``target`` in ``state`` (colour codes between the cells)."""
    return rf"{target}\s+(?:\x1b\[[0-9;]*m)*{state}"


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return int(child.exitstatus)


def plain(text: str) -> str:
    return _ANSI.sub("", text)


def ready_markers(fake: FakePacker, count: int, deadline: float = 30.0) -> None:
    """Wait until ``count`` fake Packers have installed their signal handlers (each writes a marker)."""
    end = time.monotonic() + deadline
    while len(list(fake.dir.glob("ready-*"))) < count:
        assert time.monotonic() < end, "the fake Packers never got ready"
        time.sleep(0.02)


def validate(project: Path, *targets: str) -> None:
    child = spawn(project, "validate", *targets)
    assert finish(child) == 0, child.before


def test_ctrl_c_is_acknowledged_and_exits_130(fake_packer: FakePacker, project: Path) -> None:
    validate(project, "web")
    fake_packer.script(version="1.6.6", build={"stdout": "1700000000,,ui,say,==> file.example: building\n",
                                               "wait_for_signal": True, "signal_exit": 1})
    child = spawn(project, "build", "web")
    child.expect("building")
    ready_markers(fake_packer, 1)
    child.sendintr()
    rest = child.read()
    assert finish(child) == 130
    summary = plain(rest)
    assert ("interrupt received: stopping Packer (SIGINT); waiting up to 5s for Packer to clean up. "
            "Press Ctrl-C again to stop now.") in summary
    assert "Cleaning up any extra volumes" in summary   # Packer's own cleanup output still shown
    assert "web: interrupted (exit 130)" in summary and "exit 130" in summary.splitlines()[-1]
    assert [s["signal"] for s in fake_packer.signals()] == ["SIGINT"]


def test_live_table_shows_running_then_stopping(fake_packer: FakePacker, project: Path) -> None:
    validate(project, "web", "other")
    fake_packer.script(version="1.6.6", build={"stdout": "1700000000,,ui,say,==> file.example: building\n",
                                               "wait_for_signal": True, "ignore_sigint": True, "signal_exit": 1})
    child = spawn(project, "build", "web", "other", "--parallel", "2")
    child.expect([cell("web", "running"), cell("other", "running")])
    ready_markers(fake_packer, 2)
    child.sendintr()
    child.expect("interrupt received")
    child.expect([cell("web", "stopping"), cell("other", "stopping")])
    child.sendintr()   # the children ignore SIGINT: the second Ctrl-C stops them now
    child.expect(r"second interrupt: killing Packer now \(SIGKILL\)")
    rest = plain(child.read())
    assert finish(child) == 130
    assert rest.count("stopped with: SIGINT → SIGKILL (Packer could not clean up") == 2, rest


def test_runs_and_artifacts_tables_at_80_columns(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    validate(project, "web", "other")
    child = spawn(project, "build", "web", "other", "--json")
    child.expect(pexpect.EOF)
    built = json.loads(plain(child.before))
    child = spawn(project, "runs")
    out = plain(child.read())
    assert finish(child) == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    for target in ("web", "other"):
        run_id = f"{built['command_id']}/{target}"
        assert any(run_id in line for line in lines), out
    child = spawn(project, "artifacts")
    out = plain(child.read())
    assert finish(child) == 0
    for record in built["artifacts"]:
        assert any(record["build_id"] in line for line in out.splitlines()), out
    assert "Null" not in out
