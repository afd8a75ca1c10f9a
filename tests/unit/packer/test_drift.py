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


def test_secret_values_are_fingerprinted_by_digest_only(fake_packer: FakePacker, project: Path) -> None:
    assert validate("web", {"api_key": Secret("first-secret")}).exit_code == 0
    assert build("web", {"api_key": Secret("first-secret")}).exit_code == 0
    # A rotated secret is drift (DESIGN: "secret ones by digest only"), named, never shown.
    with pytest.raises(DriftDetected) as info:
        build("web", {"api_key": Secret("rotated-secret")})
    assert info.value.diff["web"]["vars_changed"] == ["api_key"]
    assert "rotated-secret" not in str(info.value) and "first-secret" not in str(info.value)
    state = (project / ".hybridcore" / "state.db").read_bytes()
    assert b"first-secret" not in state and b"rotated-secret" not in state


def test_env_keys_trust(fake_packer: FakePacker, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate("web").exit_code == 0
    monkeypatch.setenv("HYBRIDCORE_ENV", "prod")
    with pytest.raises(DriftDetected) as info:
        build("web")
    assert info.value.diff["web"]["untrusted"] is True


# ------------------------------------------------------------------ everything the build can read (issue 10/11)


def test_environment_the_template_reads_drifts_by_name_never_by_value(
        fake_packer: FakePacker, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # password defaults to env("HC_TEST_PW"); region is given by the wrapper, so its PKR_VAR_ is not read.
    monkeypatch.setenv("HC_TEST_PW", "first-value-1")
    monkeypatch.setenv("PKR_VAR_region", "ignored: the wrapper passes region itself")
    assert validate("web").exit_code == 0
    monkeypatch.setenv("PKR_VAR_region", "still ignored")
    assert drift("web")[0].clean
    monkeypatch.setenv("HC_TEST_PW", "second-value-2")
    monkeypatch.setenv("PKR_VAR_password", "now set")
    with pytest.raises(DriftDetected) as info:
        build("web")
    diff = info.value.diff["web"]
    assert diff["vars_changed"] == ["env:HC_TEST_PW", "env:PKR_VAR_password"]
    text = str(info.value) + str(diff) + (project / ".hybridcore" / "state.db").read_bytes().decode("latin-1")
    assert "first-value-1" not in text and "second-value-2" not in text


def test_files_read_by_file_inline_scripts_and_linked_content_drift(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web"
    (tpl / "motd.txt").write_text("hello\n")
    (project / "tools").mkdir()
    (project / "tools" / "check.sh").write_text("echo check\n")
    (project / "shared.sh").write_text("echo shared\n")
    (tpl / "scripts" / "shared.sh").symlink_to(project / "shared.sh")
    text = (tpl / "web.pkr.hcl").read_text().replace(
        'content = "hello ${var.region}"', 'content = file("motd.txt")').replace(
        'script = "${path.root}/scripts/setup.sh"\n  }',
        'script = "${path.root}/scripts/setup.sh"\n  }\n'
        '  provisioner "file" {\n    source = "${path.root}/scripts"\n    destination = "/tmp"\n  }\n'
        '  provisioner "shell-local" {\n    inline = ["bash tools/check.sh --fast"]\n  }')
    (tpl / "web.pkr.hcl").write_text(text)
    assert validate("web").exit_code == 0
    for path, data in (("templates/web/motd.txt", "hi\n"), ("tools/check.sh", "exit 1\n"), ("shared.sh", "rm\n")):
        (project / path).write_text(data)
    (report,) = drift("web")
    assert report.diff["changed"] == ["templates/web/motd.txt", "templates/web/scripts/shared.sh", "tools/check.sh"]


def test_a_link_out_of_the_project_is_named(fake_packer: FakePacker, project: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.sh").write_text("echo\n")
    (project / "assets" / "out.sh").symlink_to(tmp_path / "elsewhere.sh")
    (project / "assets" / "harden.sh").unlink()
    (project / "assets" / "harden.sh").mkdir()  # a provisioner folder now, holding the link
    (project / "assets" / "harden.sh" / "x.sh").symlink_to(tmp_path / "elsewhere.sh")
    result = validate("web")
    assert any("outside the project" in w and "x.sh" in w for w in result.warnings), result.warnings
    (report,) = drift("web")
    assert any("outside the project" in w for w in report.warnings)


def test_moving_where_packer_runs_is_drift(fake_packer: FakePacker, project: Path) -> None:
    assert validate("web").exit_code == 0
    (project / "images").mkdir()
    config = project / "hybridcore.toml"
    config.write_text(config.read_text().replace('template = "templates/web"\nvar_files',
                                                 'template = "templates/web"\nworkdir = "images"\nvar_files'))
    (report,) = drift("web")
    assert report.diff["meta_changed"] == {"workdir": [".", "images"]}
