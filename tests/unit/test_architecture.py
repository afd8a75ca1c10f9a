"""specs/hybridcore-packer/architecture.md names every module of src/hybridcore, and only real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "hybridcore"
DOC = ROOT / "specs" / "hybridcore-packer" / "architecture.md"
SECTIONS = {"Shared": SRC, "State": SRC / "state", "Packer": SRC / "packer"}


def _listed() -> set[Path]:
    listed: set[Path] = set()
    base: Path | None = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^### (\w+)", line)
        if heading:
            base = SECTIONS.get(heading.group(1))
            continue
        if line.startswith("## "):
            base = None
        if base is None or not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for name in re.findall(r"`([\w./]+)`", first_cell):
            if name.endswith((".py", "/")):
                listed.add(base / name.rstrip("/"))
    return listed


def test_every_listed_module_exists() -> None:
    missing = sorted(str(p.relative_to(SRC)) for p in _listed() if not p.exists())
    assert missing == []


def test_every_module_is_listed() -> None:
    listed = _listed()
    modules = [p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts]
    unlisted = sorted(str(p.relative_to(SRC)) for p in modules
                      if p.name != "__init__.py" and p not in listed
                      and not any(parent in listed for parent in p.parents))
    assert unlisted == []
