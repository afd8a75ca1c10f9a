"""The wrappers against the real Packer 1.6.6: fmt, validate, builds, secrets, interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.conftest import all_files, write
from tests.support.http_server import Server

from hybridcore.errors import DriftDetected
from hybridcore.packer import build, fmt, validate

CANARY = "hc-canary-7f3a9d1e-secret"
CLI = [sys.executable, "-m", "hybridcore.packer.cli"]


def test_fmt_check_formatted_and_unformatted(local_project: Path) -> None:
    ok = fmt("file", check=True)
    assert ok.exit_code == 0 and ok.status == "ok"
    messy = local_project / "templates" / "messy" / "messy.pkr.hcl"
    write(messy, 'source "null" "x" {\ncommunicator="none"\n}\nbuild {\nsources=["source.null.x"]\n}\n')
    bad = fmt("templates/messy", check=True)
    assert bad.exit_code == 3 and bad.status == "unformatted"
    assert "messy.pkr.hcl" in bad.stdout
    cli = subprocess.run([*CLI, "fmt", "--check", "templates/messy"], capture_output=True, text=True)
    assert cli.returncode == 3
    fixed = fmt("templates/messy")
    assert fixed.exit_code == 0
    assert fmt("templates/messy", check=True).exit_code == 0
    assert 'communicator = "none"' in messy.read_text()


def test_fmt_recursive_on_packer_without_recursive_flag(local_project: Path) -> None:
    write(local_project / "templates" / "nested" / "a" / "a.pkr.hcl", 'source "null" "a" {\ncommunicator="none"\n}\n')
    write(local_project / "templates" / "nested" / "b" / "b.pkr.hcl", 'source "null" "b" {\ncommunicator="none"\n}\n')
    result = fmt("templates/nested", check=True, recursive=True)
    assert result.exit_code == 3
    assert "a.pkr.hcl" in result.stdout and "b.pkr.hcl" in result.stdout


def test_fmt_skips_json_templates_and_checks_the_rest(local_project: Path) -> None:
    write(local_project / "legacy" / "legacy.json",
          '{"builders": [{"type": "null", "communicator": "none"}]}\n')
    toml = local_project / "hybridcore.toml"
    write(local_project / "jsonhcl" / "j.pkr.json",
          '{"source": {"null": {"x": {"communicator": "none"}}}, "build": {"sources": ["source.null.x"]}}\n')
    toml.write_text(toml.read_text() + '\n[targets.legacy]\ntemplate = "legacy/legacy.json"\n'
                    '\n[targets.jsonfolder]\ntemplate = "jsonhcl"\n')
    everything = fmt(None, check=True)
    assert everything.exit_code == 0, everything.stderr
    assert {t.target for t in everything.targets} == {"file", "null"}
    assert any("legacy, jsonfolder" in w and "HCL2 only" in w for w in everything.warnings), everything.warnings
    only_json = subprocess.run([*CLI, "fmt", "--check", "legacy"], capture_output=True, text=True)
    assert only_json.returncode == 2 and "nothing to format" in only_json.stderr, only_json.stderr
    assert "Traceback" not in only_json.stderr


def test_validate_pass_and_fail(local_project: Path) -> None:
    assert validate("file").exit_code == 0
    broken = write(local_project / "templates" / "broken" / "broken.pkr.hcl",
                   'source "file" "x" {\n  content = "a"\n  bogus = 1\n}\n'
                   'build {\n  sources = ["source.file.x"]\n}\n')
    result = validate(str(broken))
    assert result.exit_code == 1 and result.retryable is False
    assert result.targets[0].classification.category in {"template-syntax", "validation"}
    assert "bogus" in result.stdout + result.stderr
    cli = subprocess.run([*CLI, "validate", str(broken)], capture_output=True, text=True)
    assert cli.returncode == 1
    assert "hint:" in cli.stderr and "Traceback" not in cli.stderr


def test_build_null_and_file_with_canary_secret(local_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HC_CANARY", CANARY)
    assert validate(["file", "null"]).exit_code == 0
    result = build(["file", "null"], parallel=2)
    assert result.exit_code == 0, result.stdout
    by_target = {t.target: t for t in result.targets}
    (file_art,) = by_target["file"].artifacts
    assert file_art.builder_id == "packer.file" and file_art.platform == "local"
    assert Path(file_art.files[0].name).read_text() == "image golden"
    (null_art,) = by_target["null"].artifacts
    assert null_art.builder_id == "fnoeding.null"
    assert file_art.build_id != null_art.build_id
    # The template's own manifest post-processor was captured next to ours.
    assert by_target["file"].template_manifest_path is not None
    manifest = json.loads(Path(result.manifest_path or "").read_text())
    assert {b["builder_type"] for b in manifest["builds"]} == {"file", "null"}
    # Packer 1.6.6 prints the sensitive value raw under -machine-readable: only redaction stands between.
    assert "the password is <redacted>" in by_target["file"].stdout
    texts = json.dumps(result.to_dict())
    assert CANARY not in texts
    leaks = [p for p in all_files(local_project) if CANARY.encode() in p.read_bytes()]
    assert leaks == []
    assert CANARY not in " ".join(result.targets[0].argv)


def test_build_refuses_on_drift_then_validate_restores_trust(local_project: Path) -> None:
    assert validate("file").exit_code == 0
    (local_project / "scripts" / "base.sh").write_text("#!/bin/sh\necho changed\n")
    with pytest.raises(DriftDetected) as info:
        build("file")
    assert info.value.diff["file"]["changed"] == ["scripts/base.sh"]
    drift = subprocess.run([*CLI, "drift", "file"], capture_output=True, text=True)
    assert drift.returncode == 4 and "scripts/base.sh" in drift.stdout
    cli = subprocess.run([*CLI, "build", "file"], capture_output=True, text=True)
    assert cli.returncode == 4 and "validate" in cli.stderr
    assert validate("file").exit_code == 0
    assert build("file").exit_code == 0


def test_qemu_image_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          boot_disk_server: tuple[Server, str]) -> None:
    server, checksum = boot_disk_server
    root = tmp_path / "qemu-proj"
    from tests.integration.conftest import copy_example

    copy_example("qemu", root)
    write(root / "hybridcore.toml", f"""\
[targets.qemu]
template = "templates/qemu"
vars = {{ iso_url = "{server.url_for('bootdisk.raw')}", iso_checksum = "sha256:{checksum}", output_directory = "out" }}
platform = "qemu"
""")
    monkeypatch.chdir(root)
    assert validate("qemu").exit_code == 0
    result = build("qemu")
    assert result.exit_code == 0, result.stdout[-2000:]
    (art,) = result.artifacts
    assert art.builder_id == "transcend.qemu"
    image = Path(art.image_ids[0])
    assert image.is_absolute() and image.stat().st_size == 1 << 20
    assert server.requests.count("/bootdisk.raw") == 1


SLEEPER = """\
source "null" "sleepy" {
  communicator = "none"
}

build {
  sources = ["source.null.sleepy"]

  provisioner "shell-local" {
    inline = ["touch ${path.root}/started", "sleep 300"]
  }
}
"""


def test_ctrl_c_mid_build_sends_sigint_and_records_interrupted(tmp_path: Path) -> None:
    root = tmp_path / "sleepy"
    write(root / "templates" / "sleepy" / "sleepy.pkr.hcl", SLEEPER)
    write(root / "hybridcore.toml", '[targets.sleepy]\ntemplate = "templates/sleepy"\n\n[build]\nkill_grace = 20\n')
    env = {**os.environ, "HYBRIDCORE_ENV": "ci"}
    assert subprocess.run([*CLI, "validate", "sleepy"], cwd=root, env=env).returncode == 0
    proc = subprocess.Popen([*CLI, "build", "sleepy", "--json"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = root / "templates" / "sleepy" / "started"
    # Wait for the provisioner's marker using inotify-free polling of a file the build itself creates.
    import time

    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never reached its provisioner"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    result = json.loads(out)
    (target,) = result["targets"]
    assert target["status"] == "interrupted"
    assert target["signals"][0] == "SIGINT"
    assert target["classification"]["category"] == "interrupted"
    stored = json.loads((Path(target["run_dir"]) / "result.json").read_text())
    assert stored["status"] == "interrupted"
    # Packer cleaned up: no packer process of this run is left.
    ps = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
