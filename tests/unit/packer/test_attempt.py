"""One attempt's judgement of Packer's ending: the validate error a build leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.conftest import FakePacker

from hybridcore.packer import build, validate
from hybridcore.packer.attempt import existing_output_only

pytestmark = pytest.mark.unit

# Packer 1.6.6, HCL2 and legacy JSON, after a build left its output_directory (captured here).
HCL2 = """Error: 1 error(s) occurred:

* Output directory 'out' already exists. It must not exist.

  on q.pkr.hcl line 1:
  (source code not available)

Error: 1 error(s) occurred:

* Output directory 'out2' already exists. It must not exist.

  on q.pkr.hcl line 8:
  (source code not available)
"""
LEGACY = """Error: Failed to prepare build: "qemu"

1 error(s) occurred:

* Output directory 'out' already exists. It must not exist.
"""
MACHINE = ("1795892832,,ui,error,Error: 1 error(s) occurred:\\n\\n* Output directory 'out' already exists. "
           "It must not exist.\\n\\n  on q.pkr.hcl line 1:\\n  (source code not available)\\n\\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HCL2, ["out", "out2"]),
        (LEGACY, ["out"]),
        (MACHINE, ["out"]),
        (HCL2 + "Error: Unsupported argument\n\nAn argument named \"x\" is not expected here.\n", []),
        (LEGACY + "* iso_checksum is required\n", []),
        ("Error: 1 error(s) occurred:\n\n* ssh_username must be specified\n", []),
        ("", []),
    ],
)
def test_only_leftover_output_directories(text: str, expected: list[str]) -> None:
    assert existing_output_only(text) == expected


def test_validate_trusts_a_template_blocked_only_by_its_last_output(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", validate={"exit": 1, "stderr": HCL2})
    result = validate("web")
    (target,) = result.targets
    assert (result.exit_code, target.packer_exit_code, target.classification.category) == (0, 1, "ok")
    assert any("output directories" in w and "build --force" in w for w in result.warnings)
    assert build("web", force=True).exit_code == 0  # trusted: not refused as drift
    assert "-force" in fake_packer.calls("build")[0]["argv"]


def test_any_other_validate_error_still_fails(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", validate={"exit": 1, "stderr": LEGACY + "* iso_url is required\n"})
    result = validate("web")
    assert result.exit_code == 1 and not result.warnings
