"""Every ``hybridcore-packer ...`` line the README (and the user-facing docs) shows names commands and
options the CLI has: README cannot drift from the Typer/click command tree.

Each invocation is read from the code blocks (continuation lines included), from inline code spans and
from ``program = [...]`` lists; ``a | b`` outside brackets separates alternatives (``cache ls | verify``).
Each option must exist on the command the line names (or on the root, before the command name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.unit.conftest import FakePacker
from tests.unit.packer.cli_helpers import run

from hybridcore.packer.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", ROOT / "examples" / "README.md"]
TOOL = "hybridcore-packer"
_FENCE = re.compile(r"^\s*```")
_TOKEN = re.compile(r"[^\s\[\]()\"',]+")


@dataclass(frozen=True)
class Invocation:
    where: str          # file:line, for the failure message
    text: str           # the words after "hybridcore-packer"
    anywhere: bool = False  # an option shown on its own: some command must have it


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each fenced code block."""
    inside, start, lines = False, 0, list[str]()
    for n, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            if inside:
                yield start, lines
            inside, start, lines = not inside, n + 1, []
        elif inside:
            lines.append(line)


def _strip_comment(line: str) -> str:
    return re.sub(r"\s#\s.*$|^\s*#.*$", "", line)


_CALL = re.compile(r"(?:^|(?<=[\s(`\"]))" + TOOL + r"(?=\s|$)")   # the command, not a path ending in it


def _split_calls(line: str) -> list[str]:
    """The text after each ``hybridcore-packer`` of a shell line (``a && b``, ``$(...)``)."""
    calls = []
    for part in _CALL.split(line)[1:]:
        part = re.split(r"&&|\|\||;|\$\(|\)|>>|`", part)[0]
        calls.append(part)
    return calls


def invocations(path: Path) -> list[Invocation]:
    text = path.read_text()
    found: list[Invocation] = []
    for start, lines in _blocks(text):
        last: Invocation | None = None
        for i, raw in enumerate(lines):
            line = _strip_comment(raw)
            where = f"{path.name}:{start + i}"
            if TOOL in line:
                calls = _split_calls(line)
                found.extend(Invocation(where, c) for c in calls)
                last = found[-1] if calls and line.rstrip().endswith(calls[-1].rstrip()) else None
            elif last is not None and line.startswith(" ") and line.strip().startswith("["):
                found[-1] = last = Invocation(last.where, last.text + " " + line.strip())  # continuation
            else:
                last = None
    outside = "\n".join(line for n, line in enumerate(text.splitlines())
                        if not any(s - 1 <= n < s + len(b) + 1 for s, b in _blocks(text)))
    commands = set(_subcommands(_root()))
    for m in re.finditer(r"`([^`\n]+)`", outside):
        span = m.group(1).strip()
        first = span.split()[0] if span.split() else ""
        if _CALL.match(span):
            found.extend(Invocation(f"{path.name} (inline)", c) for c in _split_calls(span))
        elif first in commands:      # `runs show ID --markdown`, `fmt --check`
            found.append(Invocation(f"{path.name} (inline)", span))
        elif re.match(r"^(--[a-z]|-[A-Za-z](\s|$))", span):   # `--on-error=abort`: on some command
            found.append(Invocation(f"{path.name} (inline)", span, anywhere=True))
    for m in re.finditer(r"program = \[\"" + TOOL + r"\",([^\]]*)\]", text):
        found.append(Invocation(f"{path.name} (program)", " ".join(re.findall(r'"([^"]*)"', m.group(1)))))
    return found


# Typer's commands are click commands (Typer vendors click): read through their duck-typed attributes.
Command = Any


def _subcommands(command: Command) -> dict[str, Command]:
    return dict(getattr(command, "commands", None) or {})


def _options(command: Command) -> dict[str, Any]:
    return {name: p for p in command.params for name in (*p.opts, *p.secondary_opts)
            if name.startswith("-")}


def _takes_value(param: Any) -> bool:
    return bool(param is not None and getattr(param, "param_type_name", "") == "option"
                and not param.is_flag and not param.count)


def _alternatives(text: str) -> list[str]:
    """``a [x | y] | b`` → ``["a [x | y]", "b"]``: a bar outside brackets separates commands."""
    parts, depth, current = list[str](), 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def _all_commands(command: Command) -> Iterator[Command]:
    yield command
    for sub in _subcommands(command).values():
        yield from _all_commands(sub)


def check(call: Invocation, root: Command, seen: dict[int, set[str]] | None = None) -> list[str]:
    """Problems with one invocation: an unknown command or an option its command does not have.
    ``seen``: filled with the options shown, by command (``id(command)`` → parameter names)."""
    if call.anywhere:
        name = call.text.split()[0].split("=", 1)[0]
        known = any(name in _options(c) for c in _all_commands(root))
        return [] if known else [f"{call.where}: '{call.text}': no command has the option {name}"]
    problems: list[str] = []
    parent: Command = root
    previous: Command | None = None
    for alt_n, alternative in enumerate(_alternatives(call.text)):
        tokens = _TOKEN.findall(alternative.replace("...", " "))
        if alt_n and tokens and not tokens[0].startswith("-"):
            # "runs show ID | runs logs ID" restarts from the root; "cache ls | verify" from the group
            command: Command = root if tokens[0] in _subcommands(root) else parent
        elif alt_n and previous is not None:
            command = previous    # "[--json | --markdown]" was inside brackets; "| --x" continues
        else:
            command = root
        descending = True
        skip = False
        for token in tokens:
            if skip and not token.startswith("-"):   # "[--var ...] [--secret ...]": no value shown
                skip = False
                continue
            skip = False
            if token.startswith("-") and len(token) > 1 and not token.startswith("--="):
                name = token.split("=", 1)[0]
                params = _options(command)
                if name not in params and name != "--help":
                    problems.append(f"{call.where}: '{TOOL} {call.text.strip()}': "
                                    f"{command.name or TOOL} has no option {name}")
                    continue
                skip = "=" not in token and _takes_value(params.get(name))
                if seen is not None and name in params:
                    seen.setdefault(id(command), set()).add(params[name].name)
                continue
            if descending and _subcommands(command):
                sub = _subcommands(command).get(token)
                if sub is not None:
                    parent, command = command, sub
                    continue
                if command is root:
                    problems.append(f"{call.where}: '{TOOL} {call.text.strip()}': no command {token!r}")
                    break
            descending = False
        previous = command
    return problems


def _root() -> Command:
    group = typer.main.get_command(app)
    assert _subcommands(group), "the CLI has no subcommands?"
    return group


@pytest.mark.parametrize("doc", [d for d in DOCS if d.exists()], ids=lambda d: d.name)
def test_every_documented_invocation_exists(doc: Path) -> None:
    calls = invocations(doc)
    assert calls, f"no {TOOL} invocations found in {doc}"
    root = _root()
    problems = [p for call in calls for p in check(call, root)]
    assert problems == [], "\n".join(problems)


def test_the_readme_shows_every_option_of_every_command() -> None:
    """The other direction: an option added to the CLI gets a place on its command's README line."""
    root = _root()
    seen: dict[int, set[str]] = {}
    for call in invocations(ROOT / "README.md"):
        check(call, root, seen)
    missing = []
    for command in _all_commands(root):
        for param in command.params:
            if getattr(param, "param_type_name", "") == "option" and param.name not in ("help",) \
                    and param.name not in seen.get(id(command), set()):
                missing.append(f"{command.name}: {'/'.join(param.opts)}")
    assert missing == [], "README's CLI lines do not show: " + ", ".join(missing)


def test_the_readme_shows_every_command() -> None:
    """Each command of the CLI appears in the README at least once (a new command gets documented)."""
    root = _root()
    shown = {" ".join(_TOKEN.findall(c.text)[:2]) for c in invocations(ROOT / "README.md")}
    words = " ".join(shown)
    missing = [name for name in _subcommands(root) if not re.search(rf"(^|\s){re.escape(name)}(\s|$)", words)]
    assert missing == [], f"README shows no '{TOOL} <command>' line for: {missing}"


@pytest.mark.parametrize(("line", "problem"), [
    ("validate --force", "validate has no option --force"),
    ("fmt -diff", "fmt has no option -diff"),
    ("runs show ID --markdwn", "show has no option --markdwn"),
    ("cache ls | verify | prune [--older-than DAYS] [--bogus]", "prune has no option --bogus"),
    ("frobnicate web", "no command 'frobnicate'"),
    ("--on-eror=abort", "no command has the option --on-eror"),
    ("-C images artifacts latest --target web --terraform --chanel prod", "latest has no option --chanel"),
])
def test_the_checker_catches_drift(line: str, problem: str) -> None:
    problems = check(Invocation("x", line, anywhere=line.startswith("--")), _root())
    assert len(problems) == 1 and problems[0].endswith(problem), problems


@pytest.mark.parametrize("line", [
    "build [TARGET...] [--var ...] [--on-error cleanup|abort|run-cleanup-provisioner] [--json]",
    "runs show ID [--json | --markdown]",
    "artifacts [--target T] [--json] [--github-output F] | artifacts show ID [--json]",
    "-C images artifacts latest --target web --channel prod --terraform",
    "build --on-error=abort",
    "runs logs ID --target T",
])
def test_the_checker_accepts_the_forms_the_readme_uses(line: str) -> None:
    assert check(Invocation("x", line), _root()) == []


def test_invocations_are_found_in_blocks_continuations_and_inline(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text("Run `hybridcore-packer explain ID` or `runs show ID --markdown`; `--json`, `-machine-readable`"
                   " and `pip install /x/hybridcore-packer` are not calls.\n\n```\n"
                   "hybridcore-packer validate [TARGET...] [--var k=v]...   # a comment --nope\n"
                   "                           [--timeout S] [--json]\n"
                   "- run: hybridcore-packer validate && hybridcore-packer build --retries 2\n```\n"
                   'program = ["hybridcore-packer", "-C", "images", "artifacts", "latest"]\n')
    texts = [" ".join(c.text.split()) for c in invocations(doc)]
    assert texts == ["validate [TARGET...] [--var k=v]... [--timeout S] [--json]", "validate",
                     "build --retries 2", "explain ID", "runs show ID --markdown", "--json",
                     "-C images artifacts latest"]


_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


def _lead(line: str) -> str:
    """``"  error: ..."`` → ``"  error:"``; a wrapped continuation line → ``""``."""
    m = re.match(r"^(\s*)(\S+)", line)
    return "" if m is None or (m.group(1) and not m.group(2).endswith(":")) else m.group(1) + m.group(2)


def test_the_readme_failure_sample_is_what_the_cli_prints(fake_packer: FakePacker, project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "README.md").read_text()
    sample = next(lines for _, lines in _blocks(text) if lines and lines[0].startswith("✗ web: failed"))
    fake_packer.script(version="1.6.6", build={
        "stdout": "1700000000,,ui,error,Build 'null.smoke' errored after 1 second: Script exited with "
                  "non-zero exit status: 3.Allowed exit codes are: [0]\n", "exit": 1})
    assert run(capsys, "validate", "web").returncode == 0
    built = run(capsys, "build", "web")
    assert built.returncode == 1
    lines = built.stderr.splitlines()
    printed = [_ULID.sub("ID", line) for line in lines[next(i for i, x in enumerate(lines) if x.startswith("✗")):]]
    shown = [_ULID.sub("ID", line) for line in sample]
    assert [_lead(x) for x in printed if _lead(x)] == [_lead(x) for x in shown if _lead(x)]
    exact = [x for x in shown if _lead(x) in ("✗", "  error:", "  logs:", "  why:", "command")]
    assert exact == [x for x in printed if _lead(x) in ("✗", "  error:", "  logs:", "  why:", "command")]


def test_hints_and_messages_name_real_commands_and_options() -> None:
    """A hint that says ``'hybridcore-packer validate --force'`` sends people to an error: every quoted
    invocation in the package (code and classification rules) must exist."""
    src = ROOT / "src" / "hybridcore"
    quoted = re.compile(r"[`'](" + TOOL + r" [^`'{}\n]+)[`']")
    calls = [Invocation(f"{path.relative_to(ROOT)}:{n}", c)
             for path in sorted([*src.rglob("*.py"), *src.rglob("*.toml")])
             for n, line in enumerate(path.read_text().splitlines(), 1)
             for m in quoted.finditer(line) for c in _split_calls(m.group(1))]
    assert len(calls) > 10, calls  # the scan finds the hints (rules.toml names several)
    root = _root()
    problems = [p for call in calls for p in check(call, root)]
    assert problems == [], "\n".join(problems)
