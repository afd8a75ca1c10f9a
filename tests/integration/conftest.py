"""Integration fixtures: the real Packer, small real projects, loopback servers.

Nothing here is faked: these tests need Debian's packer, qemu and the govmomi sources, which
``.ci/run`` installs. A missing tool fails the run (see the skip guard in tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.bootdisk import make_boot_disk
from tests.support.http_server import Server, serve_directory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _real_packer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shutil.which("packer"), "integration tests need Debian's packer (run scripts/install-deps.sh)"
    for name in ("HYBRIDCORE_PACKER", "HYBRIDCORE_STATE_URL", "HYBRIDCORE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HYBRIDCORE_ENV", "ci")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


FILE_TEMPLATE = """\
variable "password" {
  type      = string
  sensitive = true
  default   = env("HC_CANARY")
}

variable "image_name" {
  type    = string
  default = "base"
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "file" "image" {
  content = "image ${var.image_name}"
  target  = "${path.root}/out/${var.image_name}.img"
}

source "null" "smoke" {
  communicator = "none"
}

build {
  sources = ["source.file.image", "source.null.smoke"]

  provisioner "shell-local" {
    inline = ["echo the password is ${var.password}", "echo provisioners ${join(",", var.hybridcore_provisioners)}"]
  }

  post-processor "manifest" {
    output = "${path.root}/out/packer-manifest-${var.image_name}.json"
  }
}
"""


@pytest.fixture
def local_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    write(root / "templates" / "local" / "local.pkr.hcl", FILE_TEMPLATE)
    write(root / "scripts" / "base.sh", "#!/bin/sh\necho base\n")
    write(root / "hybridcore.toml", """\
[targets.file]
template = "templates/local"
only = ["file.image"]
vars = { image_name = "golden" }
provisioners = ["scripts/base.sh"]

[targets.null]
template = "templates/local"
only = ["null.smoke"]
vars = { image_name = "smoke" }
""")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def boot_disk_server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    served = tmp_path / "www"
    served.mkdir()
    checksum = make_boot_disk(served / "bootdisk.raw")
    with serve_directory(served) as server:
        yield server, checksum


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def copy_example(name: str, dest: Path) -> Path:
    shutil.copytree(EXAMPLES / "templates" / name, dest / "templates" / name)
    return dest / "templates" / name


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
