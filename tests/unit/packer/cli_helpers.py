"""Running the CLI in tests: in-process (fast, for most tests) or as a real process (for exit codes
and streams exactly as a shell sees them)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "hybridcore.packer.cli"]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a separate process."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """The CLI in this process (the current folder and environment as the test set them)."""
    from hybridcore.packer.cli.main import _dispatch

    capsys.readouterr()
    code = _dispatch(list(args))
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)
