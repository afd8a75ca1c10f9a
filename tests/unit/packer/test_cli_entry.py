"""The CLI's entry: a line running one of cli/commands.py's commands imports no other command module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hybridcore.packer.cli.main import _command_of


@pytest.mark.parametrize(("argv", "command"), [
    (["validate", "web"], "validate"),
    (["-C", "proj", "build"], "build"),
    (["--project", "proj", "drift", "--json"], "drift"),
    (["--project=proj", "plan"], "plan"),
    (["-Cproj", "fmt"], "fmt"),
    (["--help"], None),
    (["--version", "validate"], None),
    ([], None),
    (["-C"], None),
    (["runs", "show"], "runs"),
])
def test_command_word(argv: list[str], command: str | None) -> None:
    assert _command_of(argv) == command


def _loaded_after(args: list[str]) -> list[str]:
    code = ("import sys\nfrom hybridcore.packer.cli.main import _dispatch\n_dispatch(sys.argv[1:])\n"
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('hybridcore.packer.cli.')))")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False)
    return out.stdout.splitlines()[-1:]


def test_a_run_command_loads_only_its_own_module() -> None:
    assert _loaded_after(["validate", "--help"]) == ["['base', 'commands', 'main']"]


def test_help_and_other_commands_load_every_command() -> None:
    assert _loaded_after(["--help"]) == ["['artifacts', 'base', 'commands', 'main', 'misc', 'runs']"]


def test_app_from_main_has_every_command() -> None:
    code = ("from hybridcore.packer.cli.main import app\nimport typer.main\n"
            "print(sorted(typer.main.get_command(app).commands))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.strip() == str(sorted(["artifacts", "build", "cache", "drift", "explain", "fmt", "init", "plan",
                                             "runs", "upgrade-check", "validate"]))


def test_a_run_command_line_builds_only_that_command() -> None:
    import typer.main

    from hybridcore.packer.cli import base
    from hybridcore.packer.cli.main import _register

    view = _register(["-C", "proj", "build", "web", "--help"])
    assert sorted(typer.main.get_command(view).commands) == ["build"]
    assert view.registered_callback is base.app.registered_callback  # the root options stay
    # The shared app is untouched: every command of cli/commands.py is still registered on it.
    assert {c.name for c in base.app.registered_commands} >= {"fmt", "validate", "build", "drift", "plan", "explain"}
    assert _register(["--help"]) is base.app
