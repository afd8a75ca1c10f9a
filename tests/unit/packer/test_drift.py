"""Drift on each input kind, no drift on a touch, secrets excluded, refusal runs no Packer."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.conftest import FakePacker

from hybridcore.errors import DriftDetected
from hybridcore.packer import Secret, build, drift, validate


def _bump_packer(fake: FakePacker, version: str) -> None:
    fake.script(version=version)
    path = shutil.which("packer")
    assert path is not None
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new binary identity


CHANGES: dict[str, Callable[[Path, FakePacker], dict[str, object]]] = {
    "template": lambda root, fp: (
        (root / "templates/web/web.pkr.hcl").write_text((root / "templates/web/web.pkr.hcl").read_text() + "\n"),
        {"changed": ["templates/web/web.pkr.hcl"]})[1],
    "var file": lambda root, fp: ((root / "vars/dc1.pkrvars.hcl").write_text('region = "dc2"\n'),
                                  {"changed": ["vars/dc1.pkrvars.hcl"]})[1],
    "discovered script": lambda root, fp: ((root / "templates/web/scripts/setup.sh").write_text("echo 2\n"),
                                           {"changed": ["templates/web/scripts/setup.sh"]})[1],
    "explicit provisioner": lambda root, fp: ((root / "assets/harden.sh").write_text("echo 3\n"),
                                              {"changed": ["assets/harden.sh"]})[1],
    "packer version": lambda root, fp: (_bump_packer(fp, "1.6.7"),
                                        {"meta_changed": {"packer_version": ["1.6.6", "1.6.7"]}})[1],
}


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_each_input_kind_drifts(fake_packer: FakePacker, project: Path, kind: str) -> None:
    assert validate("web").exit_code == 0
    expected = CHANGES[kind](project, fake_packer)
    with pytest.raises(DriftDetected) as info:
        build("web")
    diff = info.value.diff["web"]
    for key, value in expected.items():
        assert diff[key] == value, diff
    assert fake_packer.calls("build") == []


def test_var_value_and_provisioner_dir_drift(fake_packer: FakePacker, project: Path) -> None:
    (project / "ansible").mkdir()
    (project / "ansible" / "site.yml").write_text("- hosts: all\n")
    assert validate("web", {"zone": "zone-alpha-7"}, provisioners=["ansible"]).exit_code == 0
    with pytest.raises(DriftDetected) as info:
        build("web", {"zone": "zone-bravo-9"}, ["ansible"])
    assert info.value.diff["web"]["vars_changed"] == ["zone"]
    text = str(info.value.diff) + str(info.value)
    assert "zone-alpha-7" not in text and "zone-bravo-9" not in text  # names the variable, never its value
    (project / "ansible" / "roles.yml").write_text("roles: []\n")
    with pytest.raises(DriftDetected) as added:
        build("web", {"zone": "zone-alpha-7"}, ["ansible"])
    assert added.value.diff["web"]["added"] == ["ansible/roles.yml"]


def test_touch_without_change_is_not_drift(fake_packer: FakePacker, project: Path) -> None:
    assert validate("web").exit_code == 0
    script = project / "templates/web/scripts/setup.sh"
    os.utime(script, ns=(time.time_ns(), time.time_ns() + 5 * 10**9))
    (report,) = drift("web")
    assert report.clean, report.summary
    assert build("web").exit_code == 0


def test_secret_values_are_not_fingerprinted(fake_packer: FakePacker, project: Path) -> None:
    assert validate("web", {"api_key": Secret("first-secret")}).exit_code == 0
    # A rotated secret is not drift (it is never stored, not even hashed).
    assert build("web", {"api_key": Secret("rotated-secret")}).exit_code == 0
    state = (project / ".hybridcore" / "state.db").read_bytes()
    assert b"first-secret" not in state and b"rotated-secret" not in state


def test_env_keys_trust(fake_packer: FakePacker, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate("web").exit_code == 0
    monkeypatch.setenv("HYBRIDCORE_ENV", "prod")
    with pytest.raises(DriftDetected) as info:
        build("web")
    assert info.value.diff["web"]["untrusted"] is True
