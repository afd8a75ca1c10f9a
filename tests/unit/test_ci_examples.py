"""The CI examples (``examples/ci/``) are real: every workflow is valid YAML that GitHub's workflow schema
accepts (check-jsonschema's vendored copy, offline), the fan-out of issue 13 is wired as documented,
and every ``hybridcore-packer`` invocation in a ``run:`` step (or in any other file of examples/ci, or
in a shell block of scale-out.md) parses against the CLI's own click command tree: commands, options
and their values as the CLI would read them, so a renamed option fails here, not in someone's CI.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from ruamel.yaml import YAML  # YAML 1.2: `on:` stays a string (PyYAML's 1.1 reads it as True)

from hybridcore.packer.cli.main import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
WORKFLOWS = sorted(p for p in CI.iterdir() if p.suffix in (".yml", ".yaml"))
OTHER_SNIPPETS = sorted(p for p in CI.rglob("*") if p.is_file() and p.suffix not in (".yml", ".yaml"))
SCALE_OUT = ROOT / "specs" / "hybridcore-packer" / "scale-out.md"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
PROG = "hybridcore-packer"


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


# ------------------------------------------------------------------------------ finding invocations

# A GitHub expression (`${{ matrix.target }}`) stands for one word of the shell command.
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
_ENDS = set("|;&)<>\n`")
# The name in a command's position (line start, after an operator, `$(`, `do`/`then`, or VAR=value
# prefixes), so `pip install 'hybridcore-packer[postgres]'` is not one.
_COMMAND = re.compile(rf"(?:^|[;&|(]|\bdo|\bthen)[ \t]*(?:\w+=\S*[ \t]+)*{re.escape(PROG)}(?=[ \t)]|$)", re.M)


def invocations(script: str) -> Iterator[list[str]]:
    """The argv after ``hybridcore-packer`` of each invocation in a shell script: from the name up to
    the first unquoted shell operator (pipe, redirection, ``;``, ``&&``, the ``)`` closing a ``$(...)``)
    or the end of the line (a backslash-newline continues it)."""
    text = _EXPRESSION.sub("EXPR", script).replace("\\\n", " ")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in _COMMAND.finditer(text):
        i, quote, out = match.end(), "", []
        while i < len(text):
            ch = text[i]
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in _ENDS:
                break
            out.append(ch)
            i += 1
        yield shlex.split("".join(out), comments=True)


def test_invocations_are_cut_at_shell_operators() -> None:
    script = ('x=$(hybridcore-packer artifacts latest --target "$t" --json | python3 -c "...")\n'
              'echo "matrix=$(hybridcore-packer plan --matrix)" >> "$GITHUB_OUTPUT"\n'
              "hybridcore-packer build \"${{ matrix.target }}\" --retries 2 \\\n  --json > build.json\n"
              "pip install 'hybridcore-packer[postgres]' hybridcore-packer; ./hybridcore-packer-wrapper x\n"
              "# hybridcore-packer in a comment\nfor t in a; do HYBRIDCORE_ENV=ci hybridcore-packer drift \"$t\"; done\n")
    assert list(invocations(script)) == [
        ["artifacts", "latest", "--target", "$t", "--json"], ["plan", "--matrix"],
        ["build", "EXPR", "--retries", "2", "--json"], ["drift", "$t"]]


# ---------------------------------------------------------------------------- parsing them the CLI's way


class BadCommandLine(Exception):
    """The CLI's parser refused a command line (its own UsageError, re-raised with the message)."""


def _is_usage_error(exc: BaseException) -> bool:
    # Typer 0.28 vendors click (typer._click): its UsageError is not the installed click's, so it is
    # recognised by name rather than imported from a private module.
    return any(k.__name__ == "UsageError" for k in type(exc).__mro__)


def parse(argv: list[str]) -> list[str]:
    """Parse ``argv`` with the CLI's own command tree, command by command (nothing runs: only the
    parser and the value types); the command path it names."""
    command: Any = typer.main.get_command(app)
    path = [PROG]
    try:
        ctx = command.make_context(PROG, list(argv), resilient_parsing=False)
        while hasattr(command, "resolve_command"):  # a group: dispatch as Group.invoke does
            # The subcommand's name (click >= 8.2 keeps it in _protected_args) and its arguments.
            name_part = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
            rest = [*name_part, *ctx.args]
            if not rest:
                break
            name, sub, rest = command.resolve_command(ctx, rest)
            path.append(name)
            command, ctx = sub, sub.make_context(name, list(rest), parent=ctx, resilient_parsing=False)
    except Exception as exc:
        if _is_usage_error(exc):
            raise BadCommandLine(exc.format_message()) from None  # type: ignore[attr-defined]
        raise
    return path


def _shell_blocks(markdown: str) -> Iterator[str]:
    yield from re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", markdown, re.S)


def all_invocations() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for wf in WORKFLOWS:
        for job_name, job in load(wf)["jobs"].items():
            for n, step in enumerate(job.get("steps") or []):
                for argv in invocations(str(step.get("run", ""))):
                    found.append((f"{wf.name}: jobs.{job_name}.steps[{n}]", argv))
    for path in OTHER_SNIPPETS:
        for argv in invocations(path.read_text()):
            found.append((str(path.relative_to(ROOT)), argv))
    for block in _shell_blocks(SCALE_OUT.read_text()):
        for argv in invocations(block):
            found.append((str(SCALE_OUT.relative_to(ROOT)), argv))
    return found


INVOCATIONS = all_invocations()


def test_the_examples_invoke_the_cli_at_all() -> None:
    commands = {" ".join(parse(argv)[1:]) for _, argv in INVOCATIONS}
    # The fan-out of issue 13: validate, plan --matrix, build per target, promote the latest.
    assert {"validate", "plan", "build", "artifacts latest", "artifacts promote", "fmt",
            "upgrade-check"} <= commands


@pytest.mark.parametrize(("where", "argv"), INVOCATIONS, ids=[f"{w}: {' '.join(a)}" for w, a in INVOCATIONS])
def test_every_invocation_uses_commands_and_options_that_exist(where: str, argv: list[str]) -> None:
    try:
        path = parse(argv)
    except BadCommandLine as exc:
        pytest.fail(f"{where}: `{PROG} {shlex.join(argv)}` is not a valid command line: {exc}")
    assert len(path) > 1, f"{where}: `{PROG} {shlex.join(argv)}` names no command"


@pytest.mark.parametrize("argv", [
    ["build", "web", "--lock-timeot", "900"],       # a misspelt option
    ["artifacts", "promote", "B1"],                 # --channel is required
    ["plan", "--matrix", "--parallel", "2"],        # an option of another command
    ["artifacts", "newest", "--target", "web"],     # no such command
    ["build", "web", "--retries", "two"],           # a value of the wrong type
])
def test_the_parser_check_catches_what_it_must(argv: list[str]) -> None:
    with pytest.raises(BadCommandLine):
        parse(argv)


# ---------------------------------------------------------------------------------- the workflows


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_is_valid_against_githubs_schema(workflow: Path) -> None:
    proc = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(workflow)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


@pytest.mark.parametrize("breakage", ["timeout", "key"])
def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path, breakage: str) -> None:
    broken = load(CI / "github-actions.yml")
    if breakage == "timeout":
        broken["jobs"]["build"]["timeout-minutes"] = "soon"
    else:
        broken["jobs"]["plan"]["runs_on"] = broken["jobs"]["plan"].pop("runs-on")
    path = tmp_path / "broken.yml"
    with path.open("w") as fh:
        YAML(typ="safe").dump(broken, fh)
    proc = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Schema validation errors" in proc.stdout


def test_the_fan_out_is_wired_as_documented() -> None:
    wf = load(CI / "github-actions.yml")
    jobs = wf["jobs"]
    assert wf["env"]["HYBRIDCORE_STATE_URL"] == "${{ secrets.HYBRIDCORE_STATE_URL }}"  # one shared state
    plan_steps = {s.get("id"): s for s in jobs["plan"]["steps"]}
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    assert "plan --matrix" in plan_steps["plan"]["run"] and "$GITHUB_OUTPUT" in plan_steps["plan"]["run"]
    build = jobs["build"]
    assert build["needs"] == "plan"
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert "include[0] != null" in build["if"]  # an empty matrix skips the job instead of failing it
    assert any("${{ matrix.target }}" in str(s.get("run", "")) and "--lock-timeout" in str(s.get("run", ""))
               for s in build["steps"])
    assert set(jobs["promote"]["needs"]) == {"plan", "build"}
    assert "include[0] != null" in jobs["promote"]["if"]
    assert not any("services" in job for job in jobs.values())  # a service container dies with its job
