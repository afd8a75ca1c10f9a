"""Every input a build can read is covered by drift (DESIGN.md, "Where Packer runs, and what it reads").

Each test trusts the target the way an operator would (``validate``, then a successful ``build``, so
that inputs observed while building count too), checks that ``drift`` is clean, changes one input,
and expects ``drift`` to exit 4 naming it and ``build`` to be refused with exit 4.

Not testable here: ``templatefile()`` does not exist in Packer 1.6.6 ("There is no function named
templatefile"), so only ``file()`` is exercised.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from tests.faults.support import Project, has_traceback, null_template

PROVISIONERS_VAR = 'variable "hybridcore_provisioners" {\n  type    = list(string)\n  default = []\n}\n'


def trust(project: Project, env: Mapping[str, str] | None = None) -> None:
    for args in (("validate", "a"), ("build", "a")):
        r = project.run(*args, env=env)
        assert r.returncode == 0, f"{' '.join(args)}:\n{r.output[-3000:]}"
    clean = project.run("drift", "a", env=env)
    assert clean.returncode == 0, f"drift right after a build:\n{clean.output}"


def assert_drift(project: Project, named: str, env: Mapping[str, str] | None = None) -> None:
    found = project.run("drift", "a", env=env)
    assert found.returncode == 4, f"drift missed the change to {named}:\n{found.output}"
    assert named in found.output, found.output
    refused = project.run("build", "a", env=env)
    assert refused.returncode == 4, f"build ran with {named} changed:\n{refused.output[-3000:]}"


@pytest.mark.parametrize("how", ["cli-var", "var-file", "auto-var-file"])
def test_reserved_provisioners_variable_refused(project: Project, how: str) -> None:
    """The list of provisioners is the wrapper's to set: a user value would run what nobody validated."""
    evil_ran = project.outside / "evil-ran"
    project.write("scripts/ok.sh", "#!/bin/sh\necho ok\n", mode=0o755)
    project.write("scripts/evil.sh", f"#!/bin/sh\ntouch {evil_ran}\n", mode=0o755)
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\nprovisioners = ["scripts/ok.sh"]\n')
    project.write("t.pkr.hcl", null_template(["echo hello"], variables=PROVISIONERS_VAR, extra_build=(
        '  provisioner "shell-local" {\n    scripts = var.hybridcore_provisioners\n  }\n')))
    value = f'["{project.root / "scripts/evil.sh"}"]'
    if how == "cli-var":
        assert project.run("validate", "a").returncode == 0
        r = project.run("build", "a", "--var", f"hybridcore_provisioners={value}")
    elif how == "var-file":
        var_file = project.write("evil.pkrvars.hcl", f"hybridcore_provisioners = {value}\n")
        r = project.run("validate", "a", "--var-file", str(var_file))
        if r.returncode == 0:
            r = project.run("build", "a", "--var-file", str(var_file))
    else:
        project.write("evil.auto.pkrvars.hcl", f"hybridcore_provisioners = {value}\n")
        r = project.run("validate", "a")
        if r.returncode == 0:
            r = project.run("build", "a")
    assert r.returncode == 2, r.output[-3000:]
    assert "hybridcore_provisioners" in r.stderr + r.stdout and not has_traceback(r.output)
    assert not evil_ran.exists(), "the unvalidated script ran"


def test_pkr_var_in_environment_change_is_drift(project: Project) -> None:
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["echo region ${var.region}"], variables=(
        'variable "region" {\n  type    = string\n  default = "none"\n}\n')))
    trust(project, env={"PKR_VAR_region": "dc1"})
    assert_drift(project, "region", env={"PKR_VAR_region": "dc2"})


def test_script_run_by_inline_command_change_is_drift(project: Project) -> None:
    project.write("scripts/step.sh", "echo step one\n")
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["sh scripts/step.sh"]))
    trust(project)
    project.write("scripts/step.sh", "echo step two\n")
    assert_drift(project, "scripts/step.sh")


def test_symlink_target_in_provisioner_folder_change_is_drift(project: Project) -> None:
    real = project.write("shared/harden.sh", "echo harden v1\n")
    (project.root / "prov").mkdir()
    (project.root / "prov" / "harden.sh").symlink_to("../shared/harden.sh")
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\nprovisioners = ["prov"]\n')
    project.write("t.pkr.hcl", null_template(["echo hello"]))
    trust(project)
    real.write_text("echo harden v2\n")
    assert_drift(project, "harden.sh")


def test_file_read_by_file_function_change_is_drift(project: Project) -> None:
    motd = project.write("data/motd.txt", "welcome v1\n")
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["echo '${local.motd}'"], variables=(
        'locals {\n  motd = file("${path.root}/data/motd.txt")\n}\n')))
    trust(project)
    motd.write_text("welcome v2\n")
    assert_drift(project, "motd.txt")


# A path no static resolver can evaluate (it depends on uuidv4()), yet always "data/motd.txt".
COMPUTED = 'locals {\n  motd = file("data/${uuidv4() == "" ? "x" : "motd.txt"}")\n}\n'


def computed_project(project: Project, strict: bool = False) -> None:
    project.write("data/motd.txt", "welcome\n")
    toml = '[targets.a]\ntemplate = "t.pkr.hcl"\n'
    if strict:
        toml = "[build]\nstrict = true\n\n" + toml
    project.toml(toml)
    project.write("t.pkr.hcl", null_template([f"touch {project.outside / 'built'}", "echo '${local.motd}'"],
                                             variables=COMPUTED))


@pytest.mark.parametrize("command", ["validate", "build", "drift"])
def test_computed_path_is_named(project: Project, command: str) -> None:
    computed_project(project)
    r = project.run("validate", "a")
    if command != "validate":
        assert r.returncode == 0, r.output
        r = project.run(command, "a")
    assert r.returncode == 0, r.output[-3000:]
    assert "uuidv4" in r.output, f"{command} did not name the computed path:\n{r.output[-3000:]}"


def test_strict_refuses_build_with_computed_path(project: Project) -> None:
    computed_project(project, strict=True)
    project.run("validate", "a")
    r = project.run("build", "a")
    assert r.returncode in (2, 4), r.output[-3000:]
    assert "uuidv4" in r.output and not has_traceback(r.output)
    assert not (project.outside / "built").exists(), "Packer ran"
