"""Where Packer runs and what is refused before it runs (DESIGN.md "Where Packer runs, and what it reads")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.conftest import FakePacker

from hybridcore.errors import ConfigError, ExitCode, MalformedVar
from hybridcore.packer import build, drift, validate

pytestmark = pytest.mark.unit


def _toml(root: Path, extra: str) -> None:
    (root / "hybridcore.toml").write_text((root / "hybridcore.toml").read_text() + extra)


def test_packer_runs_in_workdir_with_the_template_as_typed_there(fake_packer: FakePacker, project: Path) -> None:
    (project / "images").mkdir()
    _toml(project, '\n[targets.sub]\ntemplate = "templates/web"\nworkdir = "images"\n')
    assert validate(["web", "sub"]).exit_code == 0
    calls = {c["cwd"]: c["argv"][-1] for c in fake_packer.calls("validate")}
    assert calls == {str(project): "templates/web", str(project / "images"): "../templates/web"}


def test_an_adhoc_template_runs_in_the_callers_folder(fake_packer: FakePacker, project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "templates")
    assert validate("web/web.pkr.hcl").exit_code == 0
    (call,) = fake_packer.calls("validate")
    assert (call["cwd"], call["argv"][-1]) == (str(project / "templates"), "web/web.pkr.hcl")


def test_only_that_matches_no_build_is_refused_before_packer(fake_packer: FakePacker, project: Path) -> None:
    _toml(project, '\n[targets.typo]\ntemplate = "templates/web"\nonly = ["file.exampel"]\nexcept = ["nothing"]\n'
                   '\n[targets.glob]\ntemplate = "templates/web"\nonly = ["file.*"]\nexcept = ["nothing"]\n')
    with pytest.raises(ConfigError) as info:
        build("typo")
    assert info.value.exit_code == ExitCode.USAGE
    assert "file.exampel" in info.value.message and "file.example" in info.value.message  # names the builds
    assert fake_packer.calls("build") == [] and fake_packer.calls("validate") == []
    assert validate("glob").exit_code == 0  # globs match, and except is never checked


@pytest.mark.parametrize("where", ["var", "toml", "var file", "auto var file", "auto var file beside a file"])
def test_hybridcore_provisioners_is_reserved(fake_packer: FakePacker, project: Path, where: str) -> None:
    if where == "toml":
        _toml(project, '\n[targets.t]\ntemplate = "templates/web"\nvars = { hybridcore_provisioners = "[]" }\n')
    elif where == "var file":
        (project / "vars" / "evil.pkrvars.hcl").write_text('hybridcore_provisioners = ["/tmp/x.sh"]\n')
        _toml(project, '\n[targets.t]\ntemplate = "templates/web"\nvar_files = ["vars/evil.pkrvars.hcl"]\n')
    elif where == "auto var file":
        (project / "templates" / "web" / "x.auto.pkrvars.hcl").write_text('hybridcore_provisioners = ["/x"]\n')
    else:  # Packer 1.6.6 would not load it for a single-file template: refused all the same
        (project / "templates" / "web" / "x.auto.pkrvars.json").write_text('{"hybridcore_provisioners": ["/x"]}')
        _toml(project, '\n[targets.t]\ntemplate = "templates/web/web.pkr.hcl"\n')
    target = "web" if where in ("var", "auto var file") else "t"
    given = {"hybridcore_provisioners": '["/tmp/x.sh"]'} if where == "var" else None
    with pytest.raises((MalformedVar, ConfigError)) as info:
        validate(target, given)
    assert info.value.exit_code == ExitCode.USAGE and "hybridcore_provisioners" in info.value.message
    assert fake_packer.calls("validate") == []


def test_provisioners_the_template_cannot_run_are_said(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text(tpl.read_text().replace('variable "hybridcore_provisioners"', 'variable "unused"'))
    result = validate("web")
    assert any("hybridcore_provisioners" in w and "never runs them" in w for w in result.warnings)


def _computed(project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text(tpl.read_text().replace('script = "${path.root}/scripts/setup.sh"',
                                           'script = "${path.root}/scripts/${build.ID}.sh"'))


def test_computed_paths_are_named_in_validate_build_and_drift(fake_packer: FakePacker, project: Path) -> None:
    _computed(project)
    validated = validate("web")
    assert any("not hashed" in w and "${build.ID}" in w for w in validated.warnings), validated.warnings
    assert any("${build.ID}" in w for w in build("web").warnings)
    (report,) = drift("web")
    assert report.clean and any("${build.ID}" in w for w in report.warnings)
    cli = subprocess.run([sys.executable, "-m", "hybridcore.packer.cli", "drift", "web", "--json"],
                         capture_output=True, text=True, cwd=project, check=False)
    assert cli.returncode == 0, cli.stderr
    (doc,) = json.loads(cli.stdout)["targets"]
    assert any("${build.ID}" in w for w in doc["warnings"])
    text = subprocess.run([sys.executable, "-m", "hybridcore.packer.cli", "drift", "web"],
                          capture_output=True, text=True, cwd=project, check=False)
    assert "not hashed" in text.stderr and "${build.ID}" in text.stderr


def test_strict_refuses_builds_with_computed_paths(fake_packer: FakePacker, project: Path) -> None:
    _computed(project)
    _toml(project, "strict = true\n")  # appended to the [build] table the fixture ends with
    assert validate("web").exit_code == 0  # validate names them; only build refuses
    with pytest.raises(ConfigError) as info:
        build("web")
    assert info.value.exit_code == ExitCode.USAGE and "${build.ID}" in info.value.message
    assert fake_packer.calls("build") == []
    (report,) = drift("web")  # drift still reports
    assert report.warnings


def test_an_unparsable_template_is_left_to_packer(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text("source {\n")
    fake_packer.script(version="1.6.6", validate={
        "exit": 1, "stdout": 'Error: Invalid block definition\n\n  on web.pkr.hcl line 1:\n'})
    result = validate("web")
    assert result.exit_code == 1 and "web.pkr.hcl line 1" in result.stdout  # Packer's words and position
    assert result.classification.category == "template-syntax"
    assert any("could not parse" in w for w in result.warnings)
    assert any("everything the template names" in w for w in result.warnings)


def test_a_computed_expression_is_printed_as_written(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text(tpl.read_text().replace('script = "${path.root}/scripts/setup.sh"',
                                           'scripts = [for s in ["a"] : "${build.ID}/${s}.sh"]'))
    cli = subprocess.run([sys.executable, "-m", "hybridcore.packer.cli", "validate", "web"],
                         capture_output=True, text=True, cwd=project, check=False)
    assert cli.returncode == 0, cli.stderr
    assert '[for s in ["a"] : "${build.ID}/${s}.sh"]' in cli.stderr  # not eaten as Rich markup
