"""An unexpected I/O error gets a hint that fits its cause (issue 10: "several hints are wrong")."""

from __future__ import annotations

import errno
import os

import pytest

from hybridcore.packer.console.report import os_error_hint

pytestmark = pytest.mark.unit

GENERIC = "check that the project folder and .hybridcore/ are writable and the disk has space"


@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "permissions"), (errno.EPERM, "permissions"), (errno.EROFS, "read-only"),
    (errno.ENOSPC, "disk is full"), (errno.EDQUOT, "quota"), (errno.ENOTDIR, "is a file where a folder"),
    (errno.EISDIR, "is a folder where a file"), (errno.ELOOP, "symlink"), (errno.ENOENT, "does not exist"),
    (errno.EMFILE, "ulimit"), (errno.EEXIST, "already exists"),
])
def test_each_error_family_gets_its_own_hint(code: int, words: str) -> None:
    hint = os_error_hint(OSError(code, os.strerror(code), "/p/.hybridcore/x"))
    assert words in hint and hint != GENERIC
    if code not in (errno.ENOSPC, errno.EDQUOT, errno.EMFILE):
        assert "/p/.hybridcore/x" in hint


def test_an_unreadable_file_is_not_told_to_check_disk_space() -> None:
    assert "space" not in os_error_hint(PermissionError(errno.EACCES, "Permission denied", "/t.pkr.hcl"))


def test_an_unknown_cause_keeps_the_general_hint() -> None:
    assert os_error_hint(OSError(errno.EIO, "I/O error")) == GENERIC
    assert os_error_hint(OSError("no errno")) == GENERIC
