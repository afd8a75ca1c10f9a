"""The watchdog kills Packer's whole process group when the wrapper is SIGKILLed, and only then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

# A stand-in wrapper: starts a process group (a leader and a child that ignores INT/TERM, like a
# provisioner's `trap '' INT TERM; sleep`), guards it, reports the pids, then either waits to be
# killed or releases the watchdog and exits normally.
WRAPPER = r"""
import os, subprocess, sys
from hybridcore.packer.watchdog import Watchdog
leader = subprocess.Popen(["/bin/sh", "-c", "trap '' INT TERM; sleep 300 & echo $!; wait"],
                          stdout=subprocess.PIPE, start_new_session=True)
child = int(leader.stdout.readline())
dog = Watchdog.guard(leader.pid)
print(leader.pid, child, dog._proc.pid, flush=True)
if sys.argv[1] == "release":
    dog.release()
    print("released", flush=True)
sys.stdin.read()
"""


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited


def _wait_gone(pids: list[int], within: float) -> list[int]:
    """Polls /proc until every pid has exited or ``within`` passes; the ones still alive."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if not _gone(p)]
        if not alive:
            return []
        time.sleep(0.02)
    return [p for p in pids if not _gone(p)]


def _start(mode: str) -> tuple[subprocess.Popen[str], int, int, int]:
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    leader, child, dog = (int(x) for x in proc.stdout.readline().split())
    return proc, leader, child, dog


def test_sigkill_of_the_wrapper_kills_the_group() -> None:
    proc, leader, child, dog = _start("hold")
    assert not _gone(child)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_gone([leader, child, dog], within=10) == []


def test_release_leaves_the_group_alone() -> None:
    proc, leader, child, dog = _start("release")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "released"
    assert _wait_gone([dog], within=10) == []   # the watchdog left ...
    assert not _gone(leader) and not _gone(child)  # ... without killing anything
    os.killpg(leader, signal.SIGKILL)
    proc.kill()
    proc.wait()
    assert _wait_gone([leader, child], within=10) == []
