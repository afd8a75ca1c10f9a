"""Start and end of every invocation: the root options, signal handling, and the process exit code.

Ctrl-C and SIGTERM are acknowledged on the terminal the moment they arrive (while Packer runs: what
happens next and that a second Ctrl-C stops it at once), then become ``KeyboardInterrupt``, which the
runner turns into an orderly stop of every Packer process group.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from hybridcore import __version__
from hybridcore.errors import ExitCode
from hybridcore.packer.cli import base as cli

__all__ = ["main"]  # and ``app`` (module __getattr__: every command registered)

# The commands of cli/commands.py: a line that runs one of them needs no other command module, so the
# others are not imported (nor turned into Click commands) for it; --help and anything else get all.
_COMMANDS = frozenset({"fmt", "validate", "build", "drift", "plan", "explain"})
_ROOT_VALUE_OPTIONS = frozenset({"-C", "--project"})


def __getattr__(name: str) -> object:
    # ``from hybridcore.packer.cli.main import app``: the app with every command registered.
    if name == "app":
        return _register(None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register(argv: list[str] | None) -> typer.Typer:
    """Import the command modules the line needs (importing one registers its commands); the app to
    run: for a line running one command of cli/commands.py, a view of the app with that command only.

    Typer turns every registered command and group into a Click object (inspecting each function's
    signature) before it parses the line; for the one command a line runs that is ~1/7 of the work."""
    from hybridcore.packer.cli import commands  # noqa: F401

    word = None if argv is None else _command_of(argv)
    if word not in _COMMANDS:
        from hybridcore import gcpause
        from hybridcore.packer.cli import artifacts, misc, runs  # noqa: F401

        gcpause.resume()  # not a start-up-bound line (runs, cache, upgrade-check...): the usual collector

        return cli.app
    view = copy.copy(cli.app)  # the same callback and settings; the shared app itself is left whole
    view.registered_commands = [c for c in cli.app.registered_commands if c.name == word]
    view.registered_groups = []
    return view


def _command_of(argv: list[str]) -> str | None:
    """The command word of ``argv`` after the root options; None when anything else comes first."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _ROOT_VALUE_OPTIONS:
            i += 2
        elif arg.startswith("--project=") or (arg.startswith("-C") and len(arg) > 2):
            i += 1
        else:
            return None if arg.startswith("-") else arg
    return None

_CURRENT: list[cli.GlobalOptions] = []   # the running invocation's options, for the signal handler


def _version(value: bool) -> None:
    if value:
        from hybridcore.packer.console.terminal import emit

        emit(f"hybridcore-packer {__version__}")
        raise typer.Exit(0)


@cli.app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
    project: Annotated[str | None, typer.Option("--project", "-C", help="project folder or hybridcore.toml "
                                                "(default: search upwards from the current folder)")] = None,
) -> None:
    from pathlib import Path

    ctx.obj = cli.GlobalOptions(Path(project) if project is not None else None)
    _CURRENT[:] = [ctx.obj]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    narrator = _CURRENT[0].narrator if _CURRENT else None
    if narrator is not None:
        narrator.interrupted(sigterm=signum == signal.SIGTERM)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)  # a cancelled CI job gets the same orderly stop as Ctrl-C
    code = _dispatch(argv)
    # Every record is written and closed by now; skip the interpreter's teardown of SQLAlchemy and
    # pydantic (~0.15 s, measured) when running as the console script. Library callers never get here.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    logging.shutdown()
    if argv is None:
        os._exit(code)
    sys.exit(code)


def _dispatch(argv: list[str] | None) -> int:
    app = _register(sys.argv[1:] if argv is None else argv)
    try:
        app(args=argv, prog_name="hybridcore-packer", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        # Reached only when no Packer was running (the runner turns Ctrl-C into a recorded interruption).
        from hybridcore.packer.console import report  # here: the report's modules are not needed before

        report.interrupted()
        return ExitCode.INTERRUPTED
    except OSError as exc:
        # The machine, not the code: a read-only project folder, a full disk, a vanished file.
        from hybridcore.packer.console import report

        report.os_error(exc)
        return ExitCode.USAGE
    return ExitCode.OK
