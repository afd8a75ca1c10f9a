"""Issue 4/5's scenario on real builds: vSphere (govmomi's simulator) and an Azure stand-in built in
parallel, two qemu targets sharing one download, partial failure, isolation and a read-only cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.conftest import copy_example, write
from tests.support.http_server import Server
from tests.support.vsphere import vcenter_simulator

from hybridcore.packer import Secret, build, validate
from hybridcore.packer.cache import SharedCache, file_digest

SIM_PASSWORD = "vcsim-Secret-Pa55word"

STANDIN = """\
variable "image_name" {
  type    = string
  default = "standin"
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "file" "image" {
  content = "golden ${var.image_name}"
  target  = "${path.root}/out/${var.image_name}.img"
}

build {
  sources = ["source.file.image"]

  provisioner "shell-local" {
    inline = ["echo provisioned ${var.image_name}"]
  }
}
"""

# Declares the command's variable: a template that does not is refused (exit 2), as `-var` was.
FAILING = """\
variable "password" {
  type      = string
  sensitive = true
  default   = ""
}

source "null" "broken" {
  communicator = "none"
}

build {
  sources = ["source.null.broken"]

  provisioner "shell-local" {
    inline = ["echo about to fail", "exit 3"]
  }
}
"""


def test_vsphere_and_azure_in_parallel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "hybrid"
    copy_example("vsphere", root)
    write(root / "templates" / "azure-standin" / "standin.pkr.hcl", STANDIN)
    write(root / "scripts" / "base.sh", "#!/bin/sh\necho base\n")
    with vcenter_simulator(tmp_path / "vcsim", password=SIM_PASSWORD) as sim:
        sim_vars = {k: v for k, v in sim.packer_vars().items() if k != "vcenter_password"}
        vars_toml = ", ".join(f'{k} = "{v}"' for k, v in {**sim_vars, "vm_name": "hc-par"}.items())
        write(root / "hybridcore.toml", f"""\
[targets.vsphere]
template = "templates/vsphere"
vars = {{ {vars_toml} }}
provisioners = ["scripts/base.sh"]
platform = "vsphere"
region = "dc1"

[targets.azure]
template = "templates/azure-standin"
vars = {{ image_name = "azure-standin" }}
platform = "azure"
region = "westeurope"
""")
        monkeypatch.chdir(root)
        monkeypatch.setenv("VSPHERE_PASSWORD", SIM_PASSWORD)
        assert validate(["vsphere", "azure"]).exit_code == 0
        result = build(["vsphere", "azure"], parallel=2)
    assert result.exit_code == 0, result.stdout[-3000:]
    by_target = {a.target: a for a in result.artifacts}
    assert set(by_target) == {"vsphere", "azure"}
    vs, az = by_target["vsphere"], by_target["azure"]
    assert vs.builder_id == "jetbrains.vsphere" and vs.artifact_id == "hc-par" and vs.image_ids == ["hc-par"]
    assert vs.platform == "vsphere" and vs.region == "dc1"
    assert az.platform == "azure" and az.region == "westeurope" and az.builder_id == "packer.file"
    assert vs.build_id != az.build_id
    for art in (vs, az):
        record = json.loads((root / "artifacts" / f"{art.build_id}.json").read_text())
        assert record["target"] == art.target and record["provenance"]["command_id"] == result.command_id
    manifests = {t.target: t.manifest_path for t in result.targets}
    assert len(set(manifests.values())) == 2 and all(manifests.values())
    run_dirs = [Path(t.run_dir) for t in result.targets]
    assert run_dirs[0] != run_dirs[1]
    logs = [Path(t.packer_log_path or "") for t in result.targets]
    assert logs[0] != logs[1] and all(p.stat().st_size > 0 for p in logs)
    combined = json.loads(Path(result.manifest_path or "").read_text())
    assert {b["custom_data"]["target"] for b in combined["builds"]} == {"vsphere", "azure"}
    assert all(SIM_PASSWORD.encode() not in p.read_bytes() for p in root.rglob("*") if p.is_file())


def _qemu_project(root: Path, server: Server, checksum: str, names: list[str]) -> None:
    copy_example("qemu", root)
    url = server.url_for("bootdisk.raw")
    targets = "\n".join(f"""\
[targets.{n}]
template = "templates/qemu"
vars = {{ iso_url = "{url}", iso_checksum = "sha256:{checksum}", output_directory = "out-{n}", \
vm_name = "{n}.raw" }}
platform = "qemu"
""" for n in names)
    write(root / "hybridcore.toml", targets)


def test_two_qemu_targets_download_once_and_cache_stays_read_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot_disk_server: tuple[Server, str]) -> None:
    server, checksum = boot_disk_server
    root = tmp_path / "qemu2"
    _qemu_project(root, server, checksum, ["qa", "qb"])
    monkeypatch.chdir(root)
    assert validate(["qa", "qb"]).exit_code == 0
    result = build(["qa", "qb"], parallel=2)
    assert result.exit_code == 0, result.stdout[-3000:]
    assert server.requests.count("/bootdisk.raw") == 1
    cache = SharedCache(root / ".hybridcore" / "cache")
    (entry,) = cache.entries()
    shared_file = root / ".hybridcore" / "cache" / entry["entry"]
    assert file_digest(shared_file, "sha256") == checksum
    assert cache.verify()[0]["ok"] is True
    # Nothing but the verified entry and the index were added to the shared folder.
    visible = sorted(p.name for p in (root / ".hybridcore" / "cache").iterdir() if not p.name.startswith("."))
    assert visible == sorted([entry["entry"], "index.json"])
    assert {len(t.artifacts) for t in result.targets} == {1}
    # A second build reuses the verified entry: still one request.
    assert build(["qa"], force=True).exit_code == 0
    assert server.requests.count("/bootdisk.raw") == 1
    # use_cache=False: a fresh private cache, so Packer downloads again.
    assert build(["qb"], force=True, use_cache=False).exit_code == 0
    assert server.requests.count("/bootdisk.raw") == 2
    assert file_digest(shared_file, "sha256") == checksum


def test_partial_failure_keeps_the_other_artifact(local_project: Path) -> None:
    write(local_project / "templates" / "failing" / "failing.pkr.hcl", FAILING)
    with (local_project / "hybridcore.toml").open("a") as fh:
        fh.write('\n[targets.failing]\ntemplate = "templates/failing"\n')
    assert validate(["file", "failing"], {"password": Secret("irrelevant-value")}).exit_code == 0
    result = build(["file", "failing"], {"password": Secret("irrelevant-value")}, parallel=2)
    by_target = {t.target: t for t in result.targets}
    assert by_target["failing"].status == "failed"
    assert by_target["failing"].classification.category == "provisioner"
    assert by_target["file"].status == "ok" and len(by_target["file"].artifacts) == 1
    assert result.exit_code == 1 and not result.retryable
    assert [a.target for a in result.artifacts] == ["file"]
    assert (local_project / "artifacts" / f"{result.artifacts[0].build_id}.json").is_file()
