"""Private files: 0700 folders that are never symlinks, 0600 files, atomic writes through unguessable temps."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridcore.errors import HybridcoreError
from hybridcore.files import (
    UnsafeFolder,
    atomic_write_bytes,
    atomic_write_json,
    atomic_writer,
    open_private,
    private_dir,
)

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_private_dir_creates_every_missing_folder_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    assert private_dir(target) == target
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3
    assert private_dir(target) == target  # existing: fine


def test_private_dir_restores_owner_bits_a_umask_took(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        private_dir(tmp_path / "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "x") == 0o700


def test_private_dir_leaves_an_existing_folder_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    private_dir(shared)
    private_dir(shared / "inner")
    assert mode(shared) == 0o755  # not the wrapper's to chmod
    assert mode(shared / "inner") == 0o700


def test_private_dir_refuses_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    elsewhere.chmod(0o755)
    link = tmp_path / ".hybridcore"
    link.symlink_to(elsewhere)
    with pytest.raises(UnsafeFolder, match="is a symlink") as info:
        private_dir(link)
    assert isinstance(info.value, HybridcoreError) and isinstance(info.value, OSError)
    assert info.value.hint
    assert mode(elsewhere) == 0o755
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeFolder, match="is a symlink"):
        private_dir(dangling)
    assert not (tmp_path / "nowhere").exists()


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafeFolder, match="not a folder"):
        private_dir(tmp_path / "f")


@pytest.mark.usefixtures("loose_umask")
def test_atomic_write_modes_and_content(tmp_path: Path) -> None:
    target = tmp_path / "new" / "record.json"
    atomic_write_json(target, {"v": 1, "when": tmp_path})
    assert json.loads(target.read_text()) == {"v": 1, "when": str(tmp_path)}
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700
    with atomic_writer(target, 0o444, durable=False) as fh:
        fh.write(b"ro")
    assert target.read_bytes() == b"ro"
    assert mode(target) == 0o444
    assert os.listdir(target.parent) == ["record.json"]


def test_atomic_write_into_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    out.mkdir()
    out.chmod(0o755)
    atomic_write_bytes(out / "a.json", b"{}")
    assert mode(out) == 0o755
    assert mode(out / "a.json") == 0o600


def test_atomic_write_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    target = tmp_path / "record.json"
    target.symlink_to(victim)
    atomic_write_bytes(target, b"new")
    assert victim.read_text() == "keep"
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"


def test_atomic_writer_failure_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_bytes(b"old")

    def fail_half_way() -> None:
        with atomic_writer(target) as fh:
            fh.write(b"half")
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_temp_names_are_not_predictable(tmp_path: Path) -> None:
    seen: set[str] = set()
    for _ in range(3):
        with atomic_writer(tmp_path / "x") as fh:
            seen.update(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))
            fh.write(b"1")
    assert len(seen) == 3
    assert all(n.startswith(".x.") for n in seen)


@pytest.mark.usefixtures("loose_umask")
def test_open_private_creates_0600_appends_and_truncates(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.jsonl"
    with open_private(log, append=True, encoding="utf-8") as fh:
        fh.write("one\n")
    with open_private(log, append=True, encoding="utf-8") as fh:
        fh.write("two\n")
    assert log.read_text() == "one\ntwo\n"
    assert mode(log) == 0o600
    assert mode(log.parent) == 0o700
    with open_private(log) as bfh:
        bfh.write(b"bytes")
    assert log.read_bytes() == b"bytes"


def test_open_private_refuses_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "a.log").symlink_to(victim)
    with pytest.raises(OSError):  # ELOOP
        open_private(tmp_path / "a.log", append=True)
    assert victim.read_text() == "keep"
