"""Terminal tests run the CLI on a real pseudo-terminal (pexpect), with the unit tests' fake Packer."""

from __future__ import annotations

from tests.unit.conftest import fake_packer, project  # noqa: F401  (fixtures)
