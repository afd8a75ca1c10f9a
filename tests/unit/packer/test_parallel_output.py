"""Parallel builds without a terminal (every CI log): each of thousands of lines from several targets,
printed by the real CLI, carries the prefix of the target that printed it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

# A Packer that prints many lines naming its own template (the last argument), one write each.
FAKE = """#!/usr/bin/env python3
import sys
argv = sys.argv[1:]
if argv and argv[0] in ("version", "-v", "--version"):
    print("Packer v1.6.6")
    sys.exit(0)
if argv and argv[0] == "build":
    name = argv[-1].rstrip("/").split("/")[-1]
    for i in range(LINES):
        sys.stdout.write(f"1700000000,,ui,message,    {name}: line {i} of {name} " + "x" * (i % 90) + "\\n")
        sys.stdout.flush()
        if i % 97 == 0:
            sys.stderr.write(f"{name} stderr {i}\\n")
            sys.stderr.flush()
sys.exit(0)
"""
TARGETS = ("alpha", "bravo", "charlie-long-name", "d")
LINES = 1500


@pytest.fixture
def parallel_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "packer"
    fake.write_text(FAKE.replace("LINES", str(LINES)))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HYBRIDCORE_ENV", "dev")
    for var in ("HYBRIDCORE_PACKER", "HYBRIDCORE_STATE_URL", "HYBRIDCORE_PROJECT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "proj"
    config = []
    for name in TARGETS:
        folder = root / "templates" / name
        folder.mkdir(parents=True)
        (folder / "main.pkr.hcl").write_text('source "null" "a" {\n  communicator = "none"\n}\n'
                                             'build {\n  sources = ["source.null.a"]\n}\n')
        config.append(f'[targets.{name}]\ntemplate = "templates/{name}"\n')
    (root / "hybridcore.toml").write_text("\n".join(config))
    return root


def test_every_line_carries_its_own_target(parallel_project: Path) -> None:
    cli = [sys.executable, "-m", "hybridcore.packer.cli"]
    assert subprocess.run([*cli, "validate"], cwd=parallel_project, capture_output=True).returncode == 0
    out = subprocess.run([*cli, "build", "--parallel", str(len(TARGETS))], cwd=parallel_project,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    pad = max(len(t) for t in TARGETS)
    counts = dict.fromkeys(TARGETS, 0)
    for line in out.stdout.splitlines():
        prefix, sep, text = line.partition(" | ")
        assert sep and len(prefix) == pad, repr(line)
        target = prefix.rstrip()
        assert text.startswith(f"    {target}: line ") and f" of {target} " in text, repr(line)
        counts[target] += 1
    assert counts == dict.fromkeys(TARGETS, LINES)
    for line in out.stderr.splitlines():
        prefix, sep, text = line.partition(" | ")
        if sep and prefix.rstrip() in TARGETS:
            assert text.startswith(f"{prefix.rstrip()} stderr "), repr(line)
