"""The console script's entry: ``--version`` answered without importing the CLI, the rest handed over."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hybridcore import __version__

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _entry(args: list[str], probe: str = "") -> subprocess.CompletedProcess[str]:
    code = ("import sys\nsys.argv = ['hybridcore-packer', *sys.argv[1:]]\nfrom hybridcore.launcher import main\n"
            f"try:\n    main()\nfinally:\n    {probe or 'pass'}\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_console_script_is_the_launcher() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hybridcore-packer"] == "hybridcore.launcher:main"


def test_version_imports_neither_the_cli_nor_its_libraries() -> None:
    probe = "print(sorted(m for m in ('typer', 'rich', 'pydantic', 'hybridcore.packer') if m in sys.modules))"
    out = _entry(["--version"], probe)
    assert out.returncode == 0
    assert out.stdout == f"hybridcore-packer {__version__}\n[]\n"


def test_version_with_other_arguments_is_the_clis_answer() -> None:
    # `--version` is eager in the CLI: with a command after it the answer is the same, from Typer (whose
    # exit path ends the process at once, so the probe printing "launcher" never runs).
    out = _entry(["--version", "validate"], "print('launcher')")
    assert out.returncode == 0
    assert out.stdout == f"hybridcore-packer {__version__}\n"


def test_everything_else_reaches_the_cli() -> None:
    out = _entry(["no-such-command"])
    assert out.returncode == 2 and "no-such-command" in out.stderr
