"""Unit-test fixtures: a fake ``packer`` on PATH and a throwaway project around it."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FAKE = Path(__file__).parent / "fake" / "packer"


@dataclass
class FakePacker:
    dir: Path

    def script(self, **scenario: Any) -> None:
        (self.dir / "scenario.json").write_text(json.dumps(scenario))

    def calls(self, sub: str | None = None) -> list[dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines()]
        return [c for c in calls if sub is None or (len(c["argv"]) > 1 and c["argv"][1] == sub)]

    def signals(self) -> list[dict[str, Any]]:
        path = self.dir / "signals.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def fake_packer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePacker:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    shutil.copy(FAKE, bindir / "packer")
    state = tmp_path / "fakestate"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PACKER_DIR", str(state))
    monkeypatch.delenv("HYBRIDCORE_PACKER", raising=False)
    monkeypatch.delenv("HYBRIDCORE_STATE_URL", raising=False)
    monkeypatch.delenv("HYBRIDCORE_PROJECT", raising=False)
    monkeypatch.setenv("HYBRIDCORE_ENV", "dev")
    fp = FakePacker(state)
    fp.script(version="1.6.6")
    return fp


TEMPLATE = """\
variable "password" {
  type      = string
  sensitive = true
  default   = env("HC_TEST_PW")
}

variable "region" {
  type    = string
  default = "dc1"
}

variable "api_key" {
  type    = string
  default = ""
}

variable "zone" {
  type    = string
  default = "a"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "file" "example" {
  content = "hello ${var.region}"
  target  = "out.txt"
}

build {
  sources = ["source.file.example"]

  provisioner "shell-local" {
    script = "${path.root}/scripts/setup.sh"
  }
}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    tpl = root / "templates" / "web"
    (tpl / "scripts").mkdir(parents=True)
    (tpl / "web.pkr.hcl").write_text(TEMPLATE)
    (tpl / "scripts" / "setup.sh").write_text("#!/bin/sh\necho setup\n")
    (root / "vars").mkdir()
    (root / "vars" / "dc1.pkrvars.hcl").write_text('region = "dc1"\n')
    (root / "assets").mkdir()
    (root / "assets" / "harden.sh").write_text("#!/bin/sh\necho harden\n")
    (root / "hybridcore.toml").write_text(
        '[targets.web]\ntemplate = "templates/web"\nvar_files = ["vars/dc1.pkrvars.hcl"]\n'
        'vars = { region = "dc1" }\nprovisioners = ["assets/harden.sh"]\nplatform = "vsphere"\n\n'
        '[targets.other]\ntemplate = "templates/web"\n\n'
        '[build]\nbackoff_initial = 0\nbackoff_max = 0\nbackoff_jitter = 0\nkill_grace = 5\n'
    )
    monkeypatch.chdir(root)
    return root


ARTIFACT_OUT = (
    "1700000000,,ui,say,==> file.example: Running local shell script\n"
    "1700000001,file.example,artifact-count,1\n"
    "1700000001,file.example,artifact,0,builder-id,packer.file\n"
    "1700000001,file.example,artifact,0,id,File\n"
    "1700000001,file.example,artifact,0,string,Stored file: out.txt\n"
    "1700000001,file.example,artifact,0,files-count,1\n"
    "1700000001,file.example,artifact,0,file,0,out.txt\n"
    "1700000001,file.example,artifact,0,end\n"
)
