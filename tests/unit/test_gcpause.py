"""The console script's start-up runs without the cyclic collector, which comes back once Packer runs."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hybridcore import gcpause

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _collector_back_on() -> Iterator[None]:
    yield
    gcpause.resume()
    gc.enable()


def test_pause_and_resume() -> None:
    gcpause.pause()
    assert not gc.isenabled()
    gcpause.pause()  # twice: still one pause, one resume undoes it
    gcpause.resume()
    assert gc.isenabled()


def test_resume_never_overrides_a_callers_own_choice() -> None:
    gc.disable()
    gcpause.pause()  # already off: not ours to turn back on
    gcpause.resume()
    assert not gc.isenabled()


@pytest.mark.parametrize(("line", "enabled"), [(["validate", "web"], False), (["-C", "x", "drift"], False),
                                               (["runs", "list"], True), (["--help"], True)])
def test_only_run_and_look_commands_keep_the_pause(line: list[str], enabled: bool) -> None:
    code = ("import gc, sys\nfrom hybridcore import gcpause\ngcpause.pause()\n"
            "from hybridcore.packer.cli.main import _register\n_register(sys.argv[1:])\nprint(gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code, *line], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.stdout.strip() == str(enabled), out.stderr
