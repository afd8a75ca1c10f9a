"""Preconditions before Packer starts: templates that are not text files are refused fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridcore.errors import TemplateError
from hybridcore.packer.preflight import NoSpace, check_space, check_template, check_templates


def test_text_template_passes(tmp_path: Path) -> None:
    t = tmp_path / "t.pkr.hcl"
    t.write_text('source "null" "x" {}\n')
    check_template(t)
    check_templates([tmp_path])


@pytest.mark.parametrize(("content", "says"), [(bytes(range(256)), "binary"), (b"\xff\xfe abc", "UTF-8")])
def test_binary_template_refused(tmp_path: Path, content: bytes, says: str) -> None:
    t = tmp_path / "t.pkr.hcl"
    t.write_bytes(content)
    with pytest.raises(TemplateError, match=says) as info:
        check_templates([t])
    assert info.value.exit_code == 2


def test_fifo_and_device_refused_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "t.pkr.hcl"
    os.mkfifo(fifo)
    with pytest.raises(TemplateError, match="FIFO"):
        check_template(fifo)  # would block forever if opened for reading
    with pytest.raises(TemplateError, match="device"):
        check_template(Path("/dev/null"))


def test_free_space_names_what_is_needed(tmp_path: Path) -> None:
    with pytest.raises(NoSpace, match="KiB"):
        check_space(tmp_path, 1 << 62)
    check_space(tmp_path, 1)
