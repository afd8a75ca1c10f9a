"""Secrets against the real Packer 1.6.6: canaries given every way, printed raw and through jsonencode(),
must be absent from everything the wrapper keeps; no value is ever on Packer's argv; the generated var
file exists (0600) only while Packer runs; values reach Packer exactly as given."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.integration.conftest import write

from hybridcore.packer import Secret, build, validate

# One canary per route; each long, with characters every escape form changes.
ROUTES = {
    "api_pw": "Api-<Secret>&'1'-9d2f",        # Secret(...) through the API (what --secret passes)
    "toml_pw": "Toml-\"S3cret\"-4e7a",         # toml secrets = { toml_pw = "HC_TOML_PW" }
    "file_pw": "File-S3cret,with comma-b81c",  # a sensitive variable set in a var file
    "auto_pw": "Auto-S3cret\\back-5c0e",       # a sensitive variable set in an auto var file
    "env_pw": "Env-S3cret-ü-77aa",             # a sensitive variable whose default is env("HC_ENV_PW")
}
PLAIN = "plain-toml-value-31f4"

TEMPLATE = """\
variable "api_pw" {
  type    = string
  default = ""
}
variable "toml_pw" {
  type    = string
  default = ""
}
variable "file_pw" {
  type      = string
  sensitive = true
  default   = ""
}
variable "auto_pw" {
  type      = string
  sensitive = true
  default   = ""
}
variable "env_pw" {
  type      = string
  sensitive = true
  default   = env("HC_ENV_PW")
}
variable "name" {
  type    = string
  default = "x"
}
variable "probe" {
  type = string
}

source "null" "canary" {
  communicator = "none"
}

build {
  sources = ["source.null.canary"]

  provisioner "shell-local" {
    environment_vars = [
      "A=${var.api_pw}", "B=${var.toml_pw}", "C=${var.file_pw}", "D=${var.auto_pw}", "E=${var.env_pw}",
      "J=${jsonencode([var.api_pw, var.toml_pw, var.file_pw, var.auto_pw, var.env_pw])}",
      "PROBE=${var.probe}",
    ]
    inline = [
      "printf 'raw %s|%s|%s|%s|%s\\\\n' \\"$A\\" \\"$B\\" \\"$C\\" \\"$D\\" \\"$E\\"",
      "printf 'json %s\\\\n' \\"$J\\"",
      "printf 'file=${var.file_pw} env=${var.env_pw}\\\\n'",
      "stat -c '%a %n' \\"$TMPDIR\\" \\"$TMPDIR\\"/* > \\"$PROBE/tmpdir.txt\\"",
      "env | grep -c '^PKR_VAR_' > \\"$PROBE/pkr_var_count.txt\\" || true",
      "p=$$; while [ \\"$p\\" -gt 1 ]; do tr '\\\\0' ' ' < /proc/$p/cmdline; echo; p=$(awk '{print $4}' /proc/$p/stat); done > \\"$PROBE/cmdlines.txt\\"",
    ]
  }
}
"""


def _forms(value: str) -> set[str]:
    """How a provisioner or Packer can print ``value``: raw, JSON, Go's jsonencode, machine-readable."""
    go = json.dumps(value, ensure_ascii=False)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    return {value, json.dumps(value)[1:-1], go, value.replace(",", "%!(PACKER_COMMA)")}


def _kept_files(root: Path) -> list[Path]:
    return [p for p in (*(root / ".hybridcore").rglob("*"), *(root / "artifacts").rglob("*")) if p.is_file()]


def _state_dump(root: Path) -> str:
    db = sqlite3.connect(root / ".hybridcore" / "state.db")
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


@pytest.fixture
def canary_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    root = tmp_path / "proj"
    write(root / "tpl" / "canary.pkr.hcl", TEMPLATE)
    write(root / "tpl" / "z.auto.pkrvars.hcl", f"auto_pw = {json.dumps(ROUTES['auto_pw'])}\n")
    write(root / "vars" / "secret.pkrvars.hcl", f"file_pw = {json.dumps(ROUTES['file_pw'])}\n")
    write(root / "hybridcore.toml", f"""\
[targets.canary]
template = "tpl"
var_files = ["vars/secret.pkrvars.hcl"]
vars = {{ name = "{PLAIN}" }}
secrets = {{ toml_pw = "HC_TOML_PW" }}
""")
    monkeypatch.setenv("HC_TOML_PW", ROUTES["toml_pw"])
    monkeypatch.setenv("HC_ENV_PW", ROUTES["env_pw"])
    monkeypatch.chdir(root)
    probe = tmp_path / "probe"
    probe.mkdir()
    return root, probe


def test_canaries_given_every_way_never_reach_what_the_wrapper_keeps(
        canary_project: tuple[Path, Path]) -> None:
    root, probe = canary_project
    given = {"api_pw": Secret(ROUTES["api_pw"]), "probe": str(probe)}
    assert validate("canary", given).exit_code == 0
    result = build("canary", given)
    assert result.exit_code == 0, result.stdout + result.stderr
    # Packer printed every canary (raw and as JSON); the wrapper kept none of them.
    assert result.stdout.count("<redacted>") >= 12
    kept = "\n".join(f.read_bytes().decode("utf-8", "replace") for f in _kept_files(root))
    response = json.dumps(result.to_dict(), ensure_ascii=False)
    dump = _state_dump(root)
    for value in ROUTES.values():
        for form in _forms(value):
            assert form not in kept and form not in response and form not in dump, form
    # No value on Packer's argv (what `ps` shows every user): every Packer process named the var file.
    # (Packer's shell-local puts environment_vars on its own `/bin/sh -c` line: beyond the wrapper.)
    cmdlines = (probe / "cmdlines.txt").read_text()
    packer_lines = [line for line in cmdlines.splitlines() if line.startswith("/usr/bin/packer build")]
    assert len(packer_lines) == 2, cmdlines  # Packer 1.6.6 re-executes itself: both are checked
    for line in packer_lines:
        assert line.split()[-2].startswith("-var-file=/tmp/hc-canary-"), line
        assert line.split()[-2].endswith("/hybridcore.pkrvars.hcl"), line
        for value in (*ROUTES.values(), PLAIN, str(probe)):
            assert value not in line
    # The var file existed while Packer ran, 0600 in the attempt's private folder; it is gone now.
    modes = dict(reversed(line.split(" ", 1)) for line in (probe / "tmpdir.txt").read_text().splitlines())
    (var_file,) = [p for p in modes if p.endswith("/hybridcore.pkrvars.hcl")]
    assert modes[var_file] == "600" and modes[str(Path(var_file).parent)] == "700"
    assert not Path(var_file).exists() and not Path(var_file).parent.exists()
    assert (probe / "pkr_var_count.txt").read_text().strip() == "0"  # nothing went through PKR_VAR_


def test_values_reach_packer_exactly_and_win_over_var_files(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile text round-trips through the generated HCL file; given values beat var files."""
    hostile = ['q"b\\s', "l1\nl2\r\tx", "${var.x} %{if} $${x} %%{y} $$${z}", "é😀\u2028", "a,b", "$", "%",
               "\\u0041", "x\x01y", "<&>"]
    names = [f"v{i}" for i in range(len(hostile))]
    variables = "".join(f'variable "{n}" {{\n  type = string\n}}\n' for n in names)
    template = variables + """\
variable "tags" {
  type = list(string)
}
variable "labels" {
  type = map(string)
}
variable "flag" {
  type = bool
}
variable "n" {
  type = number
}
variable "winner" {
  type    = string
  default = "template"
}
source "file" "out" {
  content = jsonencode({values = [VALUES], tags = var.tags, labels = var.labels, flag = var.flag, n = var.n,
                        winner = var.winner})
  target  = "${path.root}/out.json"
}
build {
  sources = ["source.file.out"]
}
""".replace("VALUES", ", ".join(f"var.{n}" for n in names))
    root = tmp_path / "proj"
    write(root / "tpl" / "t.pkr.hcl", template)
    write(root / "tpl" / "a.auto.pkrvars.hcl", 'winner = "auto file"\n')
    write(root / "user.pkrvars.hcl", 'winner = "user file"\n')
    write(root / "hybridcore.toml", '[targets.t]\ntemplate = "tpl"\nvar_files = ["user.pkrvars.hcl"]\n')
    monkeypatch.chdir(root)
    given = {**dict(zip(names, hostile, strict=True)), "tags": '["a", "b"]', "labels": '{k = "v"}',
             "flag": "true", "n": "42", "winner": "given"}
    assert validate("t", given).exit_code == 0
    result = build("t", given)
    assert result.exit_code == 0, result.stdout
    out = json.loads((root / "tpl" / "out.json").read_text())
    assert out["values"] == hostile
    assert out["tags"] == ["a", "b"] and out["labels"] == {"k": "v"} and out["flag"] is True and out["n"] == 42
    assert out["winner"] == "given"  # the generated file comes last: -var's precedence


def test_unreadable_template_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A UTF-8 BOM: Packer reads the template, python-hcl2 does not. validate and build still run, with
    no value on argv and every given value redacted, even where Packer quotes the var file in an error."""
    root = tmp_path / "proj"
    write(root / "tpl" / "t.pkr.hcl", "\ufeff" + 'variable "n" {\n  type = number\n}\n'
          'variable "s" {\n  type = string\n}\n'
          'source "null" "x" {\n  communicator = "none"\n}\nbuild {\n  sources = ["source.null.x"]\n}\n')
    write(root / "hybridcore.toml", '[targets.t]\ntemplate = "tpl"\n')
    monkeypatch.chdir(root)
    given = {"n": "not-a-number-a9f3", "s": "plain-text-b7e2"}
    result = validate("t", given)
    assert result.exit_code == 1  # Packer's own complaint: n is not a number
    assert "<redacted>" in result.stdout + result.stderr  # Packer quoted the var file line
    assert any("every value given is treated as secret" in w for w in result.warnings)
    command = json.loads((Path(result.targets[0].run_dir) / "command.json").read_text())
    assert command["argv"][-2].startswith("-var-file=") and command["argv"][-2].endswith(".pkrvars.hcl")
    kept = "\n".join(f.read_bytes().decode("utf-8", "replace") for f in _kept_files(root))
    for value in given.values():
        assert value not in kept and value not in json.dumps(result.to_dict()) and value not in " ".join(
            command["argv"])
    # A build of it runs too (Packer reads the template), every given value still redacted.
    given["n"] = "12345"
    assert validate("t", given).exit_code == 0
    built = build("t", given)
    assert built.exit_code == 0, built.stdout
    assert any("not hashed for drift" in w for w in built.warnings)
    assert "12345" not in json.dumps(built.to_dict())


def test_legacy_json_template_reads_secrets_from_its_var_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "Legacy-S3cret-<9a1b>"
    root = tmp_path / "proj"
    write(root / "tpl" / "t.json", json.dumps({
        "variables": {"pw": "", "name": ""}, "sensitive-variables": ["pw"],
        "builders": [{"type": "null", "communicator": "none"}],
        "provisioners": [{"type": "shell-local", "environment_vars": ["PW={{user `pw`}}"],
                          "inline": ["echo \"pw is $PW\"", "echo name is {{user `name`}}"]}],
    }))
    write(root / "hybridcore.toml", '[targets.t]\ntemplate = "tpl/t.json"\n')
    monkeypatch.chdir(root)
    given = {"pw": Secret(canary), "name": "legacy-name"}
    assert validate("t", given).exit_code == 0
    result = build("t", given)
    assert result.exit_code == 0, result.stdout
    assert "pw is <redacted>" in result.stdout and "name is legacy-name" in result.stdout
    assert canary not in "\n".join(f.read_bytes().decode("utf-8", "replace") for f in _kept_files(root))
