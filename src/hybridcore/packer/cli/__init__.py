"""``hybridcore-packer``: the command line (Typer). Each command parses its arguments, calls the API and
hands the outcome to ``console``; nothing here prints by itself.

``base`` (the Typer apps and shared rules), ``commands`` (fmt, validate, build, drift, plan, explain),
``runs``, ``artifacts``, ``misc`` (cache, init, upgrade-check), ``main`` (signals, dispatch, exit).
Exit codes are ``hybridcore.errors.ExitCode`` (DESIGN.md).
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """The console script's entry point."""
    from hybridcore.packer.cli.main import main as run

    run(argv)


def __getattr__(name: str) -> object:
    # ``from hybridcore.packer.cli import app``: the Typer app with every command registered.
    if name == "app":
        import importlib

        # By module path: `from hybridcore.packer.cli import main` would give the function above.
        return importlib.import_module("hybridcore.packer.cli.main").app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
