"""Proves the vCenter simulator support: a real ``packer build`` of examples/templates/vsphere against it.

Set ``HYBRIDCORE_WRITE_TRANSCRIPTS=1`` to refresh tests/golden/transcripts/vsphere-iso.real.txt from the run.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .vsphere import GOPATH, PowerOffSidecar, VCenterSim, build_vcsim, default_cache_dir, vcenter_simulator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "examples" / "templates" / "vsphere"
TRANSCRIPT = REPO / "tests" / "golden" / "transcripts" / "vsphere-iso.real.txt"
PACKER = shutil.which("packer")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PACKER is None, reason="packer is not installed"),
    pytest.mark.skipif(shutil.which("go") is None, reason="golang-go is not installed"),
    pytest.mark.skipif(
        not (Path(GOPATH) / "src/github.com/vmware/govmomi/simulator").is_dir(),
        reason="golang-github-vmware-govmomi-dev is not installed",
    ),
]


def _packer_env(sim: VCenterSim, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKR_VAR_", "PACKER_"))}
    env.update(
        PKR_VAR_vcenter_password=sim.password,  # the secret goes by environment, never argv
        PACKER_CACHE_DIR=str(tmp_path / "packer_cache"),
        CHECKPOINT_DISABLE="1",  # no phone-home from an offline test
    )
    return env


def _var_args(sim: VCenterSim, vm_name: str) -> list[str]:
    values = {k: v for k, v in sim.packer_vars().items() if k != "vcenter_password"}
    values["vm_name"] = vm_name
    return [arg for k, v in values.items() for arg in ("-var", f"{k}={v}")]


def _artifact_fields(stdout: str) -> dict[str, str]:
    """``{field: value}`` of artifact 0 from machine-readable lines ``ts,target,artifact,0,field,value``."""
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        parts = line.split(",", 5)
        if len(parts) >= 5 and parts[2] == "artifact" and parts[3] == "0":
            fields[parts[4]] = parts[5] if len(parts) > 5 else ""
    return fields


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def test_validate_needs_no_simulator() -> None:
    """validate does not connect: an unreachable vcenter_server still validates."""
    proc = subprocess.run(
        [PACKER or "packer", "validate", "-var", "vcenter_server=127.0.0.1:1", str(TEMPLATE_DIR)],
        env={**os.environ, "PKR_VAR_vcenter_password": "unused", "CHECKPOINT_DISABLE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_vcsim_reuses_binary(tmp_path: Path) -> None:
    cache = default_cache_dir()
    first = build_vcsim(cache)
    mtime = first.stat().st_mtime_ns
    assert build_vcsim(cache) == first
    assert first.stat().st_mtime_ns == mtime  # not rebuilt


def test_real_vsphere_iso_build(tmp_path: Path) -> None:
    vm_name = "hybridcore-it-vm"
    sidecars: list[PowerOffSidecar] = []
    with vcenter_simulator(tmp_path / "vcsim", on_sidecar=sidecars.append) as sim:
        assert sim.url == f"https://{sim.host}/sdk"
        assert (sim.username, sim.password) == ("user", "pass")
        proc = subprocess.run(
            [PACKER or "packer", "build", "-machine-readable", *_var_args(sim, vm_name), str(TEMPLATE_DIR)],
            env=_packer_env(sim, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        host, port = sim.hostname, sim.port
    if os.environ.get("HYBRIDCORE_WRITE_TRANSCRIPTS") == "1":
        TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
        TRANSCRIPT.write_text(proc.stdout)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    fields = _artifact_fields(proc.stdout)
    assert fields["builder-id"] == "jetbrains.vsphere"
    assert fields["id"] == vm_name
    assert fields["string"] == vm_name
    assert ",vsphere-iso.base,artifact-count,1" in proc.stdout
    assert sidecars[0].powered_off == [vm_name]
    assert sidecars[0].errors == []
    assert not _port_open(host, port)  # the simulator is gone once the block exits


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    """The simulator checks credentials (its built-in default would accept any), so auth failures are real."""
    with vcenter_simulator(tmp_path / "vcsim", power_off=False) as sim:
        env = {**_packer_env(sim, tmp_path), "PKR_VAR_vcenter_password": "wrong"}
        proc = subprocess.run(
            [PACKER or "packer", "build", "-machine-readable", *_var_args(sim, "never"), str(TEMPLATE_DIR)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1
    assert "Login failure" in proc.stdout
    assert ",artifact," not in proc.stdout


def test_simulator_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL of the process running the simulator leaves no orphan (stdin EOF stops it)."""
    build_vcsim(default_cache_dir())
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.support.vsphere", "--workdir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert '"vcenter_server"' in parent.stdout.readline()
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        assert len(children) == 1
        pidfd = os.pidfd_open(int(children[0]))
        try:
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            # A pidfd turns readable when the process exits: an event, not a poll loop.
            readable, _, _ = select.select([pidfd], [], [], 10)
            assert readable, "vcsim outlived its killed parent"
        finally:
            os.close(pidfd)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
