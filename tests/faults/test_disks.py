"""Read-only, full, corrupt and locked state; a read-only warm cache (DESIGN.md, "Interrupts, crashes and
multi-runner state": nothing is started when the state cannot be written).

Root ignores file modes, so "read-only" here is a read-only bind mount (``mount --bind`` then
``remount,bind,ro``) and "full" is a 2 MiB tmpfs; the suite runs as root (CI does too).
Whether Packer started is told by a marker file its provisioner would write.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from tests.faults.support import (
    PYTHON,
    Project,
    has_traceback,
    null_template,
    read_only_bind,
    runs_json,
    small_tmpfs,
)

# The wrapper's SQLite busy timeout (hybridcore.state.BUSY_TIMEOUT_S): a locked state may be waited for
# this long, not longer.
BUSY_TIMEOUT = 30.0


def marked_project(project: Project) -> Path:
    """A target whose provisioner leaves a marker outside the project: the proof that Packer ran."""
    marker = project.outside / "packer-ran"
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template([f"touch {marker}"]))
    return marker


def trusted(project: Project) -> Path:
    marker = marked_project(project)
    r = project.run("validate", "a")
    assert r.returncode == 0, r.output
    assert project.state_db.exists()
    return marker


def test_unwritable_state_refuses_build_before_packer(project: Project) -> None:
    marker = trusted(project)
    project.state_db.chmod(0o444)
    with read_only_bind(project.state_db):
        r = project.run("build", "a")
    assert r.returncode == 2, r.output[-3000:]
    assert "state.db" in r.output and not has_traceback(r.output)
    assert not marker.exists(), "Packer ran although the state could not be written"


def test_full_disk_mid_build_fails_cleanly(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    with small_tmpfs(mount, "2m"):
        project = Project.create(tmp_path, root=mount)
        try:
            project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
            # The provisioner fills the disk the project lives on, then prints: every log write fails.
            project.write("t.pkr.hcl", null_template([
                f"dd if=/dev/zero of={mount / 'fill.bin'} bs=64k 2>/dev/null || true",
                "seq 1 3000 | sed 's/$/ a line of build output that must be logged somewhere/'",
            ]))
            assert project.run("validate", "a").returncode == 0
            r = project.run("build", "a")
            (mount / "fill.bin").unlink()
            rows = runs_json(project)
        finally:
            project.close()
    assert not has_traceback(r.output), r.output[-3000:]
    assert r.returncode != 0 and "space" in r.output.lower(), r.output[-3000:]
    assert [row["status"] for row in rows if row["status"] == "running"] == []


def test_read_only_cache_is_used_as_is(project: Project) -> None:
    trusted(project)
    cache = project.outside / "warm-cache"
    cache.mkdir()
    (cache / "seeded.iso").write_bytes(b"\x00" * 4096)
    cache.chmod(0o555)
    with read_only_bind(cache):
        r = project.run("build", "a", "--cache-dir", str(cache))
        mode = stat.S_IMODE(cache.stat().st_mode)
        listing = sorted(p.name for p in cache.iterdir())
    assert r.returncode == 0, r.output[-3000:]
    assert not has_traceback(r.output)
    assert mode == 0o555 and listing == ["seeded.iso"]


@pytest.mark.parametrize("command", [
    pytest.param(("runs",), id="runs"),
    pytest.param(("artifacts",), id="artifacts"),
    pytest.param(("drift", "a"), id="drift"),
])
def test_read_only_command_creates_no_state(project: Project, command: tuple[str, ...]) -> None:
    marked_project(project)
    r = project.run(*command)
    assert r.returncode in (0, 4) and not has_traceback(r.output), r.output
    assert not project.state_db.exists()


GARBAGE = bytes(range(256)) * 64


@pytest.mark.parametrize("command", [("validate", "a"), ("build", "a"), ("runs",)],
                         ids=["validate", "build", "runs"])
def test_corrupt_state_refused_naming_the_file(project: Project, command: tuple[str, ...]) -> None:
    marker = marked_project(project)
    project.write(".hybridcore/state.db", GARBAGE)
    r = project.run(*command)
    assert r.returncode == 2, r.output[-3000:]
    assert "state.db" in r.output and not has_traceback(r.output)
    assert not marker.exists()
    assert project.state_db.read_bytes() == GARBAGE, "the corrupt state was changed"


_LOCKER = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_locked_state_gives_a_clear_error(project: Project) -> None:
    trusted(project)
    holder = subprocess.Popen([PYTHON, "-c", _LOCKER, str(project.state_db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        r = project.run("build", "a", timeout=BUSY_TIMEOUT + 6)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    assert r.elapsed <= BUSY_TIMEOUT + 6, f"took {r.elapsed:.0f} s"
    assert r.returncode in (2, 75), r.output[-3000:]
    assert ("lock" in r.output.lower() or "busy" in r.output.lower()) and not has_traceback(r.output)
