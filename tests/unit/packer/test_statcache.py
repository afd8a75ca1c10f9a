"""The stat cache on its own: lookup by signature, the racy window, saving, merging, failing softly."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from hybridcore.packer import statcache
from hybridcore.packer.statcache import StatCache

pytestmark = pytest.mark.unit

OLD = time.time() - 3600  # an mtime safely outside the racy window
DIGEST = "blake3:" + "0" * 64


def write(path: Path, data: str) -> Path:
    path.write_text(data)
    os.utime(path, (OLD, OLD))
    return path


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statcache, "RACY_WINDOW_NS", 0)


@pytest.mark.usefixtures("no_racy_window")
def test_lookup_store_and_save(tmp_path: Path) -> None:
    f = write(tmp_path / "a", "a")
    st_a = f.stat()
    cache = StatCache(tmp_path / "sub" / "c.json")
    assert cache.lookup(str(f), st_a) is None
    cache.store(str(f), st_a, DIGEST)
    assert cache.lookup(str(f), st_a) == DIGEST
    os.utime(f, (OLD + 5, OLD + 5))
    assert cache.lookup(str(f), f.stat()) is None  # any signature change is a miss
    cache.save()
    saved = tmp_path / "sub" / "c.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert json.loads(saved.read_bytes())["entries"][str(f)].endswith(" " + DIGEST)
    mtime = saved.stat().st_mtime_ns
    cache.save()  # nothing changed: no write
    assert saved.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in saved.parent.iterdir()) == ["c.json", "c.json.lock"]


def test_racy_window_is_judged_from_when_the_file_was_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statcache, "RACY_WINDOW_NS", 10**9)
    f = write(tmp_path / "a", "a")
    st_a = f.stat()
    changed_ns = max(st_a.st_mtime_ns, st_a.st_ctime_ns)
    cache = StatCache(tmp_path / "c.json")
    cache.store(str(f), st_a, DIGEST, taken_ns=changed_ns + 10**9 // 2)  # changed just before: racy
    assert cache.lookup(str(f), st_a) is None
    cache.store(str(f), st_a, DIGEST, taken_ns=changed_ns + 2 * 10**9)
    assert cache.lookup(str(f), st_a) == DIGEST


def test_values_that_are_not_entries_are_misses(tmp_path: Path) -> None:
    f = write(tmp_path / "a", "a")
    sig = f"{f.stat().st_dev} {f.stat().st_ino} {f.stat().st_size} {f.stat().st_mtime_ns} {f.stat().st_ctime_ns} "
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "entries": {str(f): sig, "x": 5, "y": sig + "d"}}))
    cache = StatCache(path)
    assert cache.lookup(str(f), f.stat()) is None  # no digest after the signature
    assert cache.lookup("x", f.stat()) is None
    assert cache.lookup("y", f.stat()) == "d"
    assert len(cache) == 3


@pytest.mark.usefixtures("no_racy_window")
def test_concurrent_savers_merge(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a", "a"), write(tmp_path / "b", "b")
    path = tmp_path / "c.json"
    one, two = StatCache(path), StatCache(path)
    one.lookup("x", a.stat())  # both loaded the (empty) file before either saved
    two.lookup("x", a.stat())
    one.store(str(a), a.stat(), "blake3:" + "a" * 64)
    two.store(str(b), b.stat(), "blake3:" + "b" * 64)
    one.save()
    two.save()
    fresh = StatCache(path)
    assert fresh.lookup(str(a), a.stat()) == "blake3:" + "a" * 64
    assert fresh.lookup(str(b), b.stat()) == "blake3:" + "b" * 64


@pytest.mark.usefixtures("no_racy_window")
@pytest.mark.parametrize("blocker", ["file", "symlink"])
def test_save_failure_only_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture, blocker: str) -> None:
    f = write(tmp_path / "a", "a")
    folder = tmp_path / "state"
    if blocker == "file":
        folder.write_text("x")  # the cache's folder cannot be created
    else:
        (tmp_path / "elsewhere").mkdir()
        folder.symlink_to(tmp_path / "elsewhere")  # never written through
    cache = StatCache(folder / "c.json")
    cache.store(str(f), f.stat(), DIGEST)
    with caplog.at_level(logging.WARNING, logger="hybridcore.packer.statcache"):
        cache.save()  # must not raise
    assert "could not save stat cache" in caplog.text
    if blocker == "symlink":
        assert list((tmp_path / "elsewhere").iterdir()) == []
    assert cache.lookup(str(f), f.stat()) == DIGEST  # still usable in memory
