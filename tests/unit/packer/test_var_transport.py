"""How given values reach Packer: one generated var file, never argv or PKR_VAR_; which are secret."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.unit.conftest import ARTIFACT_OUT, FakePacker

from hybridcore.errors import ConfigError, HybridcoreError, MalformedVar, TemplateError
from hybridcore.packer import Secret, build, validate
from hybridcore.packer import attempt as attempt_mod
from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.config import load_project
from hybridcore.packer.plan import TargetPlan, plan_target
from hybridcore.packer.templates import Variable
from hybridcore.packer.varfile import (
    HCL_NAME,
    JSON_NAME,
    hcl_expression,
    hcl_string,
    render_var_file,
    write_var_file,
)

PACKER = PackerBinary("packer", "1.6.6")
CANARY = "Canary-<v4r>&\"f1le\"-42"

TEMPLATE = """\
variable "pw" {
  type      = string
  sensitive = true
  default   = ""
}

variable "from_env" {
  type      = string
  sensitive = true
  default   = env("HC_FROM_ENV")
}

variable "name" {
  type    = string
  default = "base"
}

variable "tags" {
  type    = list(string)
  default = []
}

variable "labels" {
  default = { a = "b" }
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

variables {
  count = 1
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}
"""


def _project(root: Path, toml_extra: str = "", template: str = TEMPLATE, name: str = "t.pkr.hcl") -> Path:
    (root / "tpl").mkdir(parents=True, exist_ok=True)
    (root / "tpl" / name).write_text(template)
    (root / "hybridcore.toml").write_text(f'[targets.t]\ntemplate = "tpl"\n{toml_extra}')
    return root


def _plan(root: Path, kind: str = "validate", vars_: dict[str, Any] | None = None,
          var_files: tuple[str, ...] = (), env: dict[str, str] | None = None) -> TargetPlan:
    project = load_project(root)
    (target,) = project.resolve("t")
    return plan_target(kind, project, target, PACKER, vars_=vars_, var_files=var_files,  # type: ignore[arg-type]
                       base_env=env or {}, cwd=root)


# ------------------------------------------------------------------------------------------ rendering


@pytest.mark.parametrize(("text", "literal"), [
    ("plain", '"plain"'),
    ('q"b\\s', '"q\\"b\\\\s"'),
    ("l1\nl2\r\tx", '"l1\\nl2\\r\\tx"'),
    ("\x00\x1b\x7f", '"\\u0000\\u001b\\u007f"'),
    ("${var.x} %{if} $${x} %%{y}", '"$${var.x} %%{if} $$${x} %%%{y}"'),
    ("é😀\u2028", '"é😀\u2028"'),
    ("$ % {", '"$ % {"'),
])
def test_hcl_string_escapes_what_hcl_would_read_otherwise(text: str, literal: str) -> None:
    assert hcl_string(text) == literal


def test_values_are_written_as_packer_reads_the_same_value_from_var() -> None:
    variables = {
        "s": Variable("s", type="string"), "n": Variable("n", type="number"),
        "b": Variable("b", type="bool"), "l": Variable("l", type="${list(string)}"),
        "m": Variable("m", type="${map(string)}"), "u": Variable("u"),
        "ul": Variable("ul", default_kind="list"), "us": Variable("us", default_kind="string"),
        "py": Variable("py", type="${list(string)}"),
    }
    spec = render_var_file({
        "s": '["not", "a list"]', "n": "42", "b": "true", "l": '["a", "b"]', "m": '{k = "v", "z" = "${x}"}',
        "u": "[1]", "ul": '["x"]', "us": "[1]", "py": ["p", Secret("q-secret")],
    }, variables, "hcl2")
    assert spec is not None and spec.name == HCL_NAME
    assert spec.text.splitlines() == [
        'b = true',
        'l = ["a", "b"]',
        'm = {k = "v", "z" = "${x}"}',   # an HCL expression, as -var parses it for a map variable
        'n = "42"',                       # number: text, as -var gives it (Packer converts)
        'py = ["p", "q-secret"]',
        's = "[\\"not\\", \\"a list\\"]"',
        'u = "[1]"',                      # untyped, no default: text
        'ul = ["x"]',                     # untyped, a list default: Packer infers a tuple type
        'us = "[1]"',
    ]
    assert "q-secret" not in repr(spec)  # the text holds secrets: never in a repr


@pytest.mark.parametrize("text", ['["a"]\nother = "x"', '"a"\nvariable "x" {}', "[\"open", "a b"])
def test_an_expression_cannot_smuggle_other_assignments(text: str) -> None:
    with pytest.raises(MalformedVar, match="'l'") as info:
        hcl_expression("l", text)
    assert text not in info.value.message


def test_legacy_json_templates_get_a_flat_object_of_strings() -> None:
    spec = render_var_file({"a": "x", "n": 3, "pw": Secret("p{{w}}d"), "l": ["x"]}, {}, "json")
    assert spec is not None and spec.name == JSON_NAME
    assert json.loads(spec.text) == {"a": "x", "l": '["x"]', "n": "3", "pw": "p{{w}}d"}


def test_nothing_given_means_no_var_file_and_no_flag(tmp_path: Path) -> None:
    assert render_var_file({}, {}, "hcl2") is None
    assert write_var_file(tmp_path, None) is None
    plan = _plan(_project(tmp_path, template=TEMPLATE.replace("hybridcore_provisioners", "other")))
    assert plan.var_file is None and not any(a.startswith("-var-file") for a in plan.argv)


def test_not_a_finite_number_is_refused() -> None:
    with pytest.raises(MalformedVar):
        render_var_file({"n": float("nan")}, {}, "hcl2")


def test_var_file_is_created_0600_exclusively(tmp_path: Path) -> None:
    spec = render_var_file({"a": "b"}, {}, "hcl2")
    path = write_var_file(tmp_path, spec)
    assert path == tmp_path / HCL_NAME and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never written through something already there
        write_var_file(tmp_path, spec)
    path.unlink()
    (tmp_path / "elsewhere").write_text("keep")
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        write_var_file(tmp_path, spec)
    assert (tmp_path / "elsewhere").read_text() == "keep"


# ------------------------------------------------------------------------------------------ planning


def test_plan_argv_holds_no_value_and_names_the_generated_file_last(tmp_path: Path) -> None:
    root = _project(tmp_path, 'vars = { name = "toml-name" }\nvar_files = ["v.pkrvars.hcl"]\n')
    (root / "v.pkrvars.hcl").write_text('name = "from-file"\n')
    plan = _plan(root, "build", {"pw": "hunter-22", "tags": '["a"]'})
    # The template as typed in the workdir (the project root): Packer's path.root stays relative.
    assert plan.argv[-2:] == ("-var-file=$TMPDIR/hybridcore.pkrvars.hcl", "tpl")
    assert plan.argv[-3] == f"-var-file={root / 'v.pkrvars.hcl'}"
    assert not any(v in " ".join(plan.argv) for v in ("hunter-22", "toml-name", '["a"]'))
    assert plan.var_file is not None
    assert plan.var_file.text == 'hybridcore_provisioners = []\nname = "toml-name"\npw = "hunter-22"\ntags = ["a"]\n'
    real = plan.argvs_for(Path("/tmp/hc-x/hybridcore.pkrvars.hcl"))
    assert real[-1][-2] == "-var-file=/tmp/hc-x/hybridcore.pkrvars.hcl"
    assert plan.split.secret == {"pw": "hunter-22"} and plan.fingerprint_vars()["pw"] == "hunter-22"


def test_unknown_variable_names_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    root = _project(tmp_path)
    with pytest.raises(MalformedVar) as info:
        _plan(root, vars_={"nmae": "x", "zzz": "y"})
    assert info.value.exit_code == 2 and "'nmae'" in info.value.message and "'zzz'" in info.value.message
    assert "did you mean 'name'" in (info.value.hint or "")
    _plan(root, vars_={"count": "3"})  # declared in a `variables {}` block
    (root / "hybridcore.toml").write_text('[targets.t]\ntemplate = "tpl"\nvars = { typo = "x" }\n')
    with pytest.raises(MalformedVar, match="'typo'"):
        _plan(root)


@pytest.mark.parametrize("route", ["api", "toml", "var file", "auto var file"])
def test_hybridcore_provisioners_cannot_be_set(tmp_path: Path, route: str) -> None:
    root = _project(tmp_path, 'vars = { hybridcore_provisioners = ["x.sh"] }\n' if route == "toml" else "")
    assignment = 'hybridcore_provisioners = ["/tmp/evil.sh"]\n'
    if route == "var file":
        (root / "v.pkrvars.hcl").write_text(assignment)
    if route == "auto var file":
        (root / "tpl" / "x.auto.pkrvars.hcl").write_text(assignment)
    with pytest.raises(MalformedVar, match="hybridcore_provisioners"):
        _plan(root, vars_={"hybridcore_provisioners": "[]"} if route == "api" else None,
              var_files=("v.pkrvars.hcl",) if route == "var file" else ())


def test_toml_secrets_are_read_from_the_environment_at_plan_time(tmp_path: Path) -> None:
    root = _project(tmp_path, 'secrets = { name = "HC_NAME_SECRET" }\n')
    plan = _plan(root, env={"HC_NAME_SECRET": "n4me-from-env"})
    assert "name" in plan.secret_names and plan.split.secret == {"name": "n4me-from-env"}
    assert plan.redactor("x n4me-from-env y") == "x <redacted> y"
    assert plan.var_file is not None and 'name = "n4me-from-env"' in plan.var_file.text
    with pytest.raises(ConfigError) as info:
        _plan(root, env={})
    assert "HC_NAME_SECRET" in info.value.message and info.value.exit_code == 2
    with pytest.raises(ConfigError) as short:
        _plan(root, env={"HC_NAME_SECRET": "ab"})
    assert "HC_NAME_SECRET" in short.value.message and "ab" not in short.value.message.replace("able", "")
    # The caller's value wins (no environment needed) and stays secret.
    plan = _plan(root, vars_={"name": "given-value"}, env={})
    assert plan.split.secret == {"name": "given-value"}


def test_top_level_secrets_table_applies_to_every_target(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "hybridcore.toml").write_text('[secrets]\nname = "HC_TOP"\n\n[targets.t]\ntemplate = "tpl"\n')
    assert _plan(root, env={"HC_TOP": "top-level-value"}).split.secret == {"name": "top-level-value"}


def test_a_secret_value_makes_any_variable_secret(tmp_path: Path) -> None:
    plan = _plan(_project(tmp_path), vars_={"name": Secret("sekrit-name"), "tags": Secret('["t0p-tag"]'),
                                            "labels": Secret('{k = "l4bel-value"}')})
    assert set(plan.split.secret) == {"name", "tags", "labels"} == set(plan.fingerprint_vars())
    # Packer reads a list variable's text as a list: ${var.tags[0]} prints the element alone.
    assert plan.redactor('["t0p-tag"] t0p-tag sekrit-name l4bel-value') == "<redacted> " * 3 + "<redacted>"
    with pytest.raises(MalformedVar, match="'name'"):
        _plan(_project(tmp_path), vars_={"name": Secret("abc")})


@pytest.mark.parametrize("where", ["var file", "json var file", "auto var file", "bom var file"])
def test_sensitive_values_set_in_var_files_are_secrets(tmp_path: Path, where: str) -> None:
    root = _project(tmp_path)
    hcl = 'name = "x"\npw = "' + CANARY.replace('"', '\\"') + '"\n'
    files: tuple[str, ...] = ()
    if where == "var file":
        (root / "v.pkrvars.hcl").write_text(hcl)
        files = ("v.pkrvars.hcl",)
    elif where == "json var file":
        (root / "v.pkrvars.json").write_text(json.dumps({"pw": CANARY}))
        files = ("v.pkrvars.json",)
    elif where == "bom var file":
        (root / "v.pkrvars.hcl").write_text("\ufeff" + hcl)
        files = ("v.pkrvars.hcl",)
    else:
        (root / "tpl" / "a.auto.pkrvars.hcl").write_text(hcl)
    plan = _plan(root, var_files=files)
    for printed in (CANARY, json.dumps(CANARY), json.dumps(CANARY)[1:-1].replace("<", "\\u003c")):
        assert CANARY not in plan.redactor(printed) and "<redacted>" in plan.redactor(printed)
    assert plan.redactor("name x") == "name x"  # not sensitive: kept


def test_short_or_unreadable_var_file_secrets_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "short.pkrvars.hcl").write_text('pw = "abc"\n')
    with pytest.raises(MalformedVar) as info:
        _plan(root, var_files=("short.pkrvars.hcl",))
    assert "'pw'" in info.value.message and "short.pkrvars.hcl" in info.value.message
    assert "abc" not in str(info.value)
    (root / "broken.pkrvars.hcl").write_text('pw = "unterminated\n')
    with pytest.raises(MalformedVar, match=r"broken\.pkrvars\.hcl"):
        _plan(root, var_files=("broken.pkrvars.hcl",))
    # A file that cannot be parsed but names no secret variable is Packer's to judge.
    (root / "other.pkrvars.hcl").write_text('name = "unterminated\n')
    _plan(root, var_files=("other.pkrvars.hcl",))


def test_environment_values_behind_sensitive_variables_are_secrets(tmp_path: Path) -> None:
    root = _project(tmp_path)
    env = {"HC_FROM_ENV": "env-default-value", "PKR_VAR_pw": "pkr-var-value", "PKR_VAR_name": "plain-name"}
    plan = _plan(root, env=env)
    assert plan.redactor("env-default-value pkr-var-value plain-name") == "<redacted> <redacted> plain-name"
    with pytest.raises(MalformedVar, match="PKR_VAR_pw"):
        _plan(root, env={"PKR_VAR_pw": "abc"})


def test_unreadable_template_fails_closed(tmp_path: Path) -> None:
    # Packer reads a UTF-8 BOM; python-hcl2 does not: which variables are sensitive is unknown.
    root = _project(tmp_path, 'vars = { name = "toml-plain-value" }\n', template="\ufeff" + TEMPLATE)
    (root / "v.pkrvars.hcl").write_text('labels = { k = "var-file-value" }\n')
    env = {"PKR_VAR_count": "pkr-var-value"}
    plan = _plan(root, vars_={"tags": '["api-list-value"]', "pw": "ab"}, var_files=("v.pkrvars.hcl",), env=env)
    for value in ("toml-plain-value", "api-list-value", "var-file-value", "pkr-var-value"):
        assert value not in plan.redactor(f"printed {value} and {json.dumps(value)}")
    assert plan.split.plain == {} and set(plan.split.secret) == {"name", "tags", "pw"}
    assert any("every value given is treated as secret" in w for w in plan.warnings)
    assert any("1 given value shorter than 4" in w for w in plan.warnings)
    assert plan.var_file is not None and not any("value" in a for a in plan.argv)
    # A build runs too (Packer reads the template), saying what drift cannot see; strict refuses it.
    built = _plan(root, "build", vars_={"tags": '["api-list-value"]'})
    assert "api-list-value" not in built.redactor('"api-list-value"')
    assert any("not hashed for drift" in w for w in built.warnings)
    (root / "hybridcore.toml").write_text('[targets.t]\ntemplate = "tpl"\n\n[build]\nstrict = true\n')
    with pytest.raises(TemplateError, match="strict"):
        _plan(root, "build")


def test_legacy_json_template_takes_secrets_through_its_var_file(tmp_path: Path) -> None:
    legacy = json.dumps({"variables": {"pw": "", "name": "x"}, "sensitive-variables": ["pw"],
                         "builders": [{"type": "null", "communicator": "none"}]})
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "t.json").write_text(legacy)
    (tmp_path / "hybridcore.toml").write_text('[targets.t]\ntemplate = "tpl/t.json"\n')
    (tmp_path / "v.json").write_text(json.dumps({"pw": "legacy-file-secret"}))
    plan = _plan(tmp_path, vars_={"pw": "legacy-secret", "name": "n"}, var_files=("v.json",))
    assert plan.var_file is not None and plan.var_file.name == JSON_NAME
    assert json.loads(plan.var_file.text) == {"name": "n", "pw": "legacy-secret"}
    assert plan.redactor("legacy-secret legacy-file-secret") == "<redacted> <redacted>"
    assert plan.argv[-2] == "-var-file=$TMPDIR/hybridcore.vars.json"


# ------------------------------------------------------------------------------------------ running


def test_var_file_lives_only_while_packer_runs(fake_packer: FakePacker, project: Path) -> None:
    result = validate("web", {"api_key": Secret("api-key-value-1")})
    (call,) = fake_packer.calls("validate")
    generated = call["var_files"][-1]
    assert call["argv"][-2] == f"-var-file={generated['path']}"
    assert generated["mode"] == 0o600 and 'api_key = "api-key-value-1"' in generated["text"]
    tmpdir = Path(call["env"]["TMPDIR"])
    assert Path(generated["path"]).parent == tmpdir and tmpdir.name.startswith("hc-web-")
    assert not tmpdir.exists()
    cmd = json.loads((Path(result.targets[0].run_dir) / "command.json").read_text())
    assert cmd["tmpdir"] == str(tmpdir) and cmd["argv"] == call["argv"]  # what ran, for the sweep too
    assert not [k for k in call["env"] if k.startswith("PKR_VAR_")]


def test_var_file_removed_when_the_run_breaks(fake_packer: FakePacker, project: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def broken(req: Any) -> Any:
        path = Path(req.argv[-2].split("=", 1)[1])
        assert path.exists()
        seen.append(path)
        raise OSError("disk on fire")

    monkeypatch.setattr(attempt_mod, "run_process", broken)
    with pytest.raises(OSError, match="disk on fire"):
        validate("web", {"api_key": Secret("api-key-value-1")})
    assert seen and not seen[0].exists()


def test_artifacts_are_parsed_before_redaction(fake_packer: FakePacker, project: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A secret equal to a builder's name: the printed lines lose it, the record keeps Packer's ids.
    monkeypatch.setenv("HC_TEST_PW", "file")
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    validate("web")
    result = build("web")
    assert result.exit_code == 0
    (art,) = result.artifacts
    assert (art.builder_type, art.build_name, art.builder_id) == ("file", "file.example", "packer.file")
    stdout = (Path(result.targets[0].run_dir) / "stdout.log").read_text()
    assert "<redacted>.example,artifact,0,builder-id" in stdout and ",file." not in stdout
    manifest = json.loads(Path(result.manifest_path or "").read_text())
    assert manifest["builds"][0]["builder_type"] == "file" and manifest["builds"][0]["name"] == "example"


def test_declared_short_secret_stops_before_packer(fake_packer: FakePacker, project: Path) -> None:
    with pytest.raises(HybridcoreError) as info:
        validate("web", {"api_key": Secret("e")})
    assert info.value.exit_code == 2 and fake_packer.calls("validate") == []


def test_canary_never_reaches_a_file_the_wrapper_keeps(fake_packer: FakePacker, project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "vars" / "dc1.pkrvars.hcl").write_text('region = "dc1"\n')
    monkeypatch.setenv("HC_TEST_PW", CANARY)
    escaped = json.dumps(CANARY)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    fake_packer.script(version="1.6.6", build={"stdout": (
        f"1700000000,,ui,message,    file.example: raw {CANARY}\n"
        f"1700000000,,ui,message,    file.example: json {escaped}\n" + ARTIFACT_OUT),
        "stderr": f"{CANARY}\n", "log": f"{CANARY}\n{escaped}\n"})
    validate("web")
    result = build("web")
    assert result.exit_code == 0
    blob = json.dumps(result.to_dict())
    for form in (CANARY, escaped):
        assert form not in blob
        for f in [p for p in project.rglob("*") if p.is_file()]:
            assert form.encode() not in f.read_bytes(), f
    assert os.environ["HC_TEST_PW"] == CANARY


def test_raw_lines_go_to_the_parser_only_and_every_sink_gets_them_redacted(tmp_path: Path) -> None:
    import sys

    from hybridcore.packer.process import ProcessRequest, run

    raw: list[tuple[str, str]] = []
    redacted: list[tuple[str, str]] = []

    def parser(stream: str, line: str) -> None:
        raw.append((stream, line))
        if "boom" in line:
            raise ValueError(f"cannot parse {line}")  # a broken parser never stops the capture

    code = "import sys; print('id,null'); print('boom null'); print('x null', file=sys.stderr)"
    req = ProcessRequest(argv=[sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path,
                         stdout_path=tmp_path / "o", stderr_path=tmp_path / "e",
                         redact=lambda s: s.replace("null", "<redacted>"), on_raw_line=parser,
                         on_line=lambda stream, line: redacted.append((stream, line)))
    outcome = run(req)
    assert sorted(raw) == [("stderr", "x null"), ("stdout", "boom null"), ("stdout", "id,null")]
    assert sorted(redacted) == [("stderr", "x <redacted>"), ("stdout", "boom <redacted>"),
                                ("stdout", "id,<redacted>")]
    assert (tmp_path / "o").read_text() == "id,<redacted>\nboom <redacted>\n"
    assert "null" not in outcome.stdout + outcome.stderr + (tmp_path / "e").read_text()


@pytest.mark.parametrize("text", [
    'pw = "plain"\n', 'pw="no spaces"\r\n', '  pw   =   "esc \\" \\\\ \\n \\t \\u00e9 \\U0001F600 \\\\u0041"  \n',
    'other = "x"\npw = "last"\n',
])
def test_simple_var_files_are_read_without_the_parser_and_agree_with_it(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridcore.packer import planvars

    full = planvars.parse_var_file(text, json_syntax=False)
    assert full is not None
    monkeypatch.setitem(__import__("sys").modules, "hcl2", None)  # the fast path must not import it
    fast = planvars.parse_var_file(text, json_syntax=False, names={"pw"})
    assert fast == {"pw": full["pw"]}


@pytest.mark.parametrize("text", [
    'pw = <<EOT\nheredoc-secret\nEOT\n', 'pw = "a" # comment\n', 'pw = "${"x"}"\n', '# pw is set in CI\npw = "v"\n',
    'pw = "bad \\q escape"\n', 'other = "mentions pw"\n',
])
def test_anything_else_naming_a_secret_goes_to_the_parser(text: str) -> None:
    from hybridcore.packer.planvars import _simple_assignments

    assert _simple_assignments(text, {"pw"}) is None
