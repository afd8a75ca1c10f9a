"""The ``hybridcore-packer`` console script: ``--version`` answered here, every other line handed to the CLI.

``hybridcore-packer --version`` is what scripts and CI probes run most, and the real CLI (Typer, the
commands, their options) costs several times the interpreter's own start-up to import; this module
imports nothing but the version. Anything else, including ``--version`` combined with other
arguments, goes to ``hybridcore.packer.cli`` unchanged, which gives the same answer the same way.
"""

from __future__ import annotations

import sys


def main() -> None:
    """The console script's entry point."""
    if sys.argv[1:] == ["--version"]:
        from hybridcore import __version__

        try:
            sys.stdout.write(f"hybridcore-packer {__version__}\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass  # `| head -0`: the same silence as the CLI's own writer
        return
    from hybridcore import gcpause

    gcpause.pause()  # resumed once Packer runs (see gcpause)
    from hybridcore.packer.cli.main import main as run

    run()
