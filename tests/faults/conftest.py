"""Fixtures of the fault suite (helpers live in support.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.faults.support import CLI, PACKER, Project


@pytest.fixture(autouse=True)
def _preconditions() -> None:
    # Mounts (tmpfs, read-only binds) need root; CI runs as root too. Never skip: fail loudly instead.
    assert os.geteuid() == 0, "the fault suite mounts file systems: run it as root (CI does)"
    assert CLI.exists(), f"no {CLI}: run 'make venv'"
    assert Path(PACKER).exists(), "the fault suite needs Debian's packer (scripts/install-deps.sh)"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project.create(tmp_path)
    try:
        yield proj
    finally:
        proj.close()
