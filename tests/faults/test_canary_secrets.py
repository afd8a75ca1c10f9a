"""Canary secrets given every way the contract allows, printed by a provisioner in every form Packer can
print them, then searched for everywhere the wrapper writes or shows something (DESIGN.md, "Secrets").

Each canary (support.canary) escapes under JSON, Go's HTML-safe JSON (what ``jsonencode()`` prints:
``\\u003c``, ``\\u0026``), ensure_ascii (``\\u00e9``) and Packer's machine-readable format
(``%!(PACKER_COMMA)``). A channel leaks when it holds the canary's leading letters, which survive all
of those; the failure message names the exact forms found.

Out of reach, on purpose: the provisioner also prints each secret base64-encoded. No wrapper can know
every encoding a script may apply, so that form is not searched for (threat-model.md says so).

Ways a secret is given, one build per group so the suite stays fast: group ``plain`` holds a var file
value of a ``sensitive`` variable, an ``env()`` default of a sensitive variable, ``PKR_VAR_`` of a
sensitive variable and ``--var`` of a sensitive variable; toml ``[targets.X] secrets``, top-level
``[secrets]``, ``--secret NAME=ENV_VAR`` and ``Secret()`` each build alone, so a missing feature
fails only its own tests. Each test looks only for its own canary.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.faults.support import (
    PYTHON,
    Gate,
    Project,
    Result,
    canary,
    cmdline,
    descendants,
    forms,
    has_traceback,
    hcl_str,
    leaks,
    null_template,
    pgid_of,
    runs_json,
    sensitive_var,
    state_dump,
    tree_files,
)


@dataclass(frozen=True)
class Way:
    """One way a secret reaches the build: its variable, the canary's tag, whether the template itself
    says ``sensitive`` and, for an ``env()`` default, the environment variable read (run_group adds
    the toml, command-line and environment parts)."""

    var: str
    tag: str
    sensitive: bool
    env_default: str | None = None


WAYS: dict[str, Way] = {
    "toml-target-secrets": Way("pw_toml", "toml", sensitive=False),
    "toml-top-level-secrets": Way("pw_top", "top", sensitive=False),
    "var-file-of-sensitive-variable": Way("pw_vfile", "vfile", sensitive=True),
    "env-default-of-sensitive-variable": Way("pw_env", "envdef", sensitive=True, env_default="HCF_ENVDEF"),
    "pkr-var-of-sensitive-variable": Way("pw_pkr", "pkrvar", sensitive=True),
    "cli-var-of-sensitive-variable": Way("pw_arg", "clivar", sensitive=True),
    "cli-secret-flag": Way("pw_flag", "flag", sensitive=False),
    "api-Secret": Way("pw_api", "api", sensitive=False),
}
GROUPS: dict[str, tuple[str, ...]] = {
    "plain": ("var-file-of-sensitive-variable", "env-default-of-sensitive-variable",
              "pkr-var-of-sensitive-variable", "cli-var-of-sensitive-variable"),
    "toml": ("toml-target-secrets",),
    "top": ("toml-top-level-secrets",),
    "flag": ("cli-secret-flag",),
    "api": ("api-Secret",),
}


def secret_of(way: str) -> str:
    return canary(WAYS[way].tag)


def printing_template(ways: tuple[str, ...], gate: Gate) -> str:
    """Declares each way's variable and prints its value raw (stdout and stderr), through
    jsonencode() and base64encode(); a manifest post-processor copies it into custom_data; then the
    provisioner blocks on the gate so the test can read Packer's argv mid-build."""
    variables, inline = "", []
    for name in ways:
        w = WAYS[name]
        default = f'env("{w.env_default}")' if w.env_default else None
        variables += sensitive_var(w.var, default, sensitive=w.sensitive)
        inline += [
            f"printf 'raw-{w.tag}=%s\\n' '${{var.{w.var}}}'",
            f"printf 'err-{w.tag}=%s\\n' '${{var.{w.var}}}' >&2",
            f"printf 'json-{w.tag}=%s\\n' '${{jsonencode(var.{w.var})}}'",
            f"printf 'b64-{w.tag}=%s\\n' '${{base64encode(var.{w.var})}}'",
        ]
    custom = ", ".join(f"{WAYS[n].var} = var.{WAYS[n].var}" for n in ways)
    manifest = textwrap.indent(textwrap.dedent(f"""\
        post-processor "manifest" {{
          output      = {hcl_str("${path.root}/out/manifest.json")}
          custom_data = {{ {custom} }}
        }}
        """), "  ")
    return null_template([*inline, *gate.inline()], variables=variables, extra_build=manifest)


@dataclass
class Observation:
    """Everything one build showed or left behind, by channel name."""

    build: Result
    gate_error: str | None
    before: list[Result] = field(default_factory=list)
    channels: dict[str, bytes | str] = field(default_factory=dict)


def observe(project: Project, gate: Gate, build_argv: list[str] | None, build_args: list[str],
            env: Mapping[str, str], before: list[Result]) -> Observation:
    """Run the build, read every descendant's argv while the provisioner waits on the gate, let it
    finish, then collect every channel: outputs, the project tree (minus the template's own out/),
    the TMPDIR the wrapper got, the state dump and what ``runs --json`` prints."""
    running = project.start(*build_args, env=env, argv=build_argv)
    gate_error = None
    argv_seen: dict[str, bytes] = {}
    try:
        shell = gate.wait(running.proc)
        if (pgid := pgid_of(shell)) is not None:
            project.watch(pgid)
        argv_seen = {f"argv of pid {pid}": cmdline(pid) for pid in descendants(running.pid)}
    except AssertionError as exc:
        gate_error = str(exc)
    finally:
        gate.open()
    build = running.finish(120)
    project.reap(running)
    channels: dict[str, bytes | str] = {}
    for i, r in enumerate(before):
        channels[f"command {i} stdout"], channels[f"command {i} stderr"] = r.stdout, r.stderr
    channels["build stdout"], channels["build stderr"] = build.stdout, build.stderr
    channels.update(argv_seen)
    channels["state dump"] = state_dump(project.state_db)
    channels["'runs --json' output"] = project.run("runs", "--json").output
    channels.update(tree_files(project.root, exclude=[project.root / "out"]))
    channels.update(tree_files(project.tmpdir))
    return Observation(build, gate_error, before, channels)


def run_group(group: str, base: Path) -> Observation:
    project = Project.create(base)
    ways = GROUPS[group]
    gate = project.gate()
    project.write("t.pkr.hcl", printing_template(ways, gate))
    (project.root / "out").mkdir()  # Packer 1.6.6's manifest post-processor creates no folders
    env = {f"HCF_{WAYS[n].tag.upper()}": secret_of(n) for n in ways}
    env["HCF_ENVDEF"] = secret_of("env-default-of-sensitive-variable")
    args: list[str] = []
    target = '[targets.a]\ntemplate = "t.pkr.hcl"\n'
    top = ""
    if group == "toml":
        target += 'secrets = { pw_toml = "HCF_TOML" }\n'
    elif group == "top":
        top = '[secrets]\npw_top = "HCF_TOP"\n'
    elif group == "plain":
        var_file = project.outside / "secret.pkrvars.hcl"
        var_file.write_text(f"pw_vfile = {hcl_str(secret_of('var-file-of-sensitive-variable'))}\n")
        env["PKR_VAR_pw_pkr"] = secret_of("pkr-var-of-sensitive-variable")
        args = ["--var-file", str(var_file), "--var", f"pw_arg={secret_of('cli-var-of-sensitive-variable')}"]
    elif group == "flag":
        args = ["--secret", "pw_flag=HCF_FLAG"]
    project.toml(target + top)
    try:
        if group == "api":
            script = project.outside / "api_build.py"
            script.write_text(textwrap.dedent("""\
                import json, os, sys
                from hybridcore.packer import Secret, build, validate
                given = {"pw_api": Secret(os.environ["HCF_API"])}
                checked = validate("a", given)
                built = build("a", given)
                print(json.dumps({"validate": checked.to_dict(), "build": built.to_dict()}))
                sys.exit(checked.exit_code or built.exit_code)
                """))
            return observe(project, gate, [PYTHON, str(script)], [], env, [])
        checked = project.run("validate", "a", *args, env=env)
        return observe(project, gate, None, ["build", "a", "--json", *args], env, [checked])
    finally:
        project.close()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Observation]:
    """One build per group, made on first use (each xdist worker builds only what its tests need)."""
    done: dict[str, Observation] = {}

    def get(way: str) -> Observation:
        group = next(g for g, ways in GROUPS.items() if way in ways)
        if group not in done:
            done[group] = run_group(group, tmp_path_factory.mktemp(f"canary-{group}"))
        return done[group]

    return get


def _exercised(obs: Observation, way: str) -> None:
    """The build ran and printed this secret: otherwise 'no leak' would prove nothing."""
    tag = WAYS[way].tag
    for r in obs.before:
        assert r.returncode == 0, f"validate failed:\n{r.output[-3000:]}"
    assert obs.gate_error is None, f"{obs.gate_error}\n{obs.build.output[-3000:]}"
    assert obs.build.returncode == 0, obs.build.output[-3000:]
    result = json.loads(obs.build.stdout)
    assert f"raw-{tag}=" in json.dumps(result) and f"json-{tag}=" in json.dumps(result)


_MISSING = {
    "cli-secret-flag": "issue 10: no --secret NAME=ENV_VAR option",
}


def _ways(raw_failures: dict[str, str]) -> list[Any]:
    return [pytest.param(w, marks=pytest.mark.xfail(strict=True, reason=raw_failures[w]))
            if w in raw_failures else w for w in WAYS]


def _raw_forms(secret: str, channels: Mapping[str, bytes | str]) -> list[str]:
    """Leaks of the value as printed raw (escaped only by Packer's machine-readable format or JSON)."""
    raw = {k: v for k, v in forms(secret).items() if "go-json" not in k}
    out = []
    for name, data in channels.items():
        blob = data.encode() if isinstance(data, str) else data
        hits = [k for k, v in raw.items() if v.encode() in blob]
        if hits:
            out.append(f"{name}: {', '.join(hits)}")
    return out


@pytest.mark.parametrize("way", _ways(_MISSING))
def test_canary_printed_raw_never_leaks(builds: Callable[[str], Observation], way: str) -> None:
    obs = builds(way)
    _exercised(obs, way)
    found = _raw_forms(secret_of(way), obs.channels)
    assert found == [], "the secret got out:\n" + "\n".join(found)


@pytest.mark.parametrize("way", _ways(_MISSING))
def test_canary_never_leaks_in_any_form(builds: Callable[[str], Observation], way: str) -> None:
    """Any trace of the canary (raw, JSON, Go-JSON \\u003c forms, machine-readable, truncated)."""
    obs = builds(way)
    _exercised(obs, way)
    found = leaks(secret_of(way), obs.channels)
    assert found == [], "the secret got out:\n" + "\n".join(found)


def test_canary_absent_from_human_output(project: Project) -> None:
    """The live terminal view and the listings, not only --json: a secret printed raw to both streams."""
    secret = canary("human")
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(
        ["printf 'raw=%s\\n' '${var.pw}'", "printf 'err=%s\\n' '${var.pw}' >&2"],
        variables=sensitive_var("pw", 'env("HCF_HUMAN")')))
    env = {"HCF_HUMAN": secret}
    outputs: dict[str, bytes | str] = {}
    for args in (("validate", "a"), ("build", "a"), ("runs",), ("artifacts",)):
        r = project.run(*args, env=env)
        assert r.returncode == 0, r.output
        outputs[" ".join(args)] = r.output
    assert "raw=" in outputs["build a"] and "err=" in outputs["build a"]
    command = runs_json(project)[0]["id"]
    assert isinstance(command, str)
    shown = project.run("runs", "show", command.split("/")[0])
    outputs["runs show"] = shown.output
    found = leaks(secret, outputs)
    assert found == [], "the secret reached the terminal:\n" + "\n".join(found)


@pytest.mark.parametrize(("how", "value"), [
    pytest.param("env-default", "e", id="sensitive-env-default-1-char"),
    pytest.param("cli-var", "abc", id="sensitive-cli-var-3-chars"),
    pytest.param("toml-secrets", "e", id="toml-secrets-1-char"),
    pytest.param("secret-flag", "ab", id="secret-flag-2-chars", marks=pytest.mark.xfail(
        strict=True, reason="issue 10: no --secret NAME=ENV_VAR option")),
])
def test_short_declared_secret_refused(project: Project, how: str, value: str) -> None:
    """A declared secret under 4 characters would redact every 'e' in the logs: refused, exit 2."""
    target = '[targets.a]\ntemplate = "t.pkr.hcl"\n'
    args: list[str] = []
    default = None
    if how == "env-default":
        default = 'env("HCF_SHORT")'
    elif how == "cli-var":
        args = ["--var", f"pw={value}"]
    elif how == "toml-secrets":
        target += 'secrets = { pw = "HCF_SHORT" }\n'
    else:
        args = ["--secret", "pw=HCF_SHORT"]
    project.toml(target)
    variables = sensitive_var("pw", default, sensitive=how in ("env-default", "cli-var"))
    project.write("t.pkr.hcl", null_template(["echo hello"], variables=variables))
    r = project.run("validate", "a", *args, env={"HCF_SHORT": value})
    assert r.returncode == 2, r.output
    assert "pw" in r.stderr and not has_traceback(r.output)


def _keys(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys(v)


def _artifact_records(project: Project) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((project.root / "artifacts").glob("*.json"))]


def test_password_named_env_with_short_value_corrupts_nothing(project: Project) -> None:
    """DEPLOY_PASSWORD=packer (heuristic only, under 8 characters) must not redact ordinary text."""
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["echo packer builds images with packer"]))
    env = {"DEPLOY_PASSWORD": "packer"}
    assert project.run("validate", "a", env=env).returncode == 0
    r = project.run("build", "a", "--json", env=env)
    assert r.returncode == 0, r.output[-3000:]
    assert not has_traceback(r.output)
    result = json.loads(r.stdout)
    assert not [k for k in _keys(result) if "redacted" in k], "keys were redacted"
    assert "<redacted>" not in r.stdout
    assert "packer builds images with packer" in result["stdout"]
    assert result["artifacts"], "no artifact in the result"
    (record,) = _artifact_records(project)
    assert record["builder_id"] == "fnoeding.null" and record["builder_type"] == "null"
    assert [row["status"] for row in runs_json(project)] == ["ok", "ok"]


def test_secret_equal_to_builder_type_keeps_record_fields(project: Project) -> None:
    """A declared 4-character secret 'null': text is redacted, identifiers Packer reports stay as reported."""
    project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["printf 'raw=%s\\n' '${var.pw}'"],
                                             variables=sensitive_var("pw", 'env("HCF_NULL")')))
    env = {"HCF_NULL": "null"}
    assert project.run("validate", "a", env=env).returncode == 0
    r = project.run("build", "a", "--json", env=env)
    assert r.returncode == 0, r.output[-3000:]
    result = json.loads(r.stdout)
    assert "raw=null" not in result["stdout"] and "raw=" in result["stdout"]
    (record,) = _artifact_records(project)
    assert record["builder_type"] == "null" and record["builder_id"] == "fnoeding.null"


# A template python-hcl2 cannot read (a UTF-8 BOM) but Packer accepts: the wrapper cannot know which
# variables are sensitive, so every given value is treated as a secret and none goes on argv.
BOM = "\ufeff"


@pytest.fixture(scope="module")
def bom_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Observation, str]]:
    project = Project.create(tmp_path_factory.mktemp("bom"))
    try:
        secret = canary("bom")
        gate = project.gate()
        project.toml('[targets.a]\ntemplate = "t.pkr.hcl"\n')
        body = null_template(["printf 'raw-bom=%s\\n' '${var.pw}'", "printf 'json-bom=%s\\n' '${jsonencode(var.pw)}'",
                              *gate.inline()], variables=sensitive_var("pw", sensitive=False))
        project.write("t.pkr.hcl", (BOM + body).encode())
        checked = project.run("validate", "a", "--var", f"pw={secret}")
        yield observe(project, gate, None, ["build", "a", "--json", "--var", f"pw={secret}"], {}, [checked]), secret
    finally:
        project.close()


def test_unreadable_template_keeps_values_off_packer_argv(bom_build: tuple[Observation, str]) -> None:
    obs, secret = bom_build
    assert obs.gate_error is None, f"{obs.gate_error}\n{obs.build.output[-3000:]}"
    argv = {k: v for k, v in obs.channels.items() if k.startswith("argv of pid")}
    assert argv, "no Packer process seen"
    assert leaks(secret, argv) == []


def test_unreadable_template_redacts_every_given_value(bom_build: tuple[Observation, str]) -> None:
    obs, secret = bom_build
    assert obs.build.returncode == 0, obs.build.output[-3000:]
    assert "raw-bom=" in obs.build.stdout
    found = leaks(secret, obs.channels)
    assert found == [], "a value given for a template of unknown sensitivity got out:\n" + "\n".join(found)
