"""The shared cache: Packer's entry names, one download across threads, verification, quarantine."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.http_server import Server, serve_directory

from hybridcore.errors import CacheError
from hybridcore.packer.cache import Download, SharedCache, downloads_of
from hybridcore.packer.templates import analyze

DATA = b"disk image bytes " * 4096
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "disk.raw").write_bytes(DATA)
    with serve_directory(tmp_path / "www") as s:
        yield s


def test_entry_name_matches_packer() -> None:
    # Verified with Packer 1.6.6 (notes-packer-cache.md): sha1("sha256:<hex>") + ".iso".
    d = Download(("http://x/disk.raw",),
                 "sha256:e546d2fcd4863dcb4d58f7a58d90a8508a484d3817bd9969958cd7eb09d2b17d")
    assert d.entry == "1176028a64a67c86a1b20dce7ef9b26e734323f3.iso"
    assert Download(("u",), "sha256:ab", "raw").entry.endswith(".raw")


def test_downloads_from_template_resolve_vars(tmp_path: Path) -> None:
    (tmp_path / "q.pkr.hcl").write_text(
        'variable "url" {\n  type = string\n}\n'
        'source "qemu" "a" {\n  iso_url = var.url\n  iso_checksum = "sha256:abcd"\n}\n'
        'source "qemu" "b" {\n  iso_url = "http://h/b.iso"\n  iso_checksum = "none"\n}\n'
        'source "qemu" "c" {\n  iso_urls = ["http://h/c.iso", "http://mirror/c.iso"]\n'
        '  iso_checksum = "sha1:ffff"\n  iso_target_extension = "img"\n}\n')
    info = analyze(tmp_path)
    found = {d.entry: d for d in downloads_of(info, {"url": "http://h/a.iso"})}
    assert {d.urls for d in found.values()} == {("http://h/a.iso",), ("http://h/c.iso", "http://mirror/c.iso")}
    assert any(e.endswith(".img") for e in found)
    assert downloads_of(info, {}) and all(d.urls != ("${var.url}",) for d in downloads_of(info, {}))


def test_downloads_of_the_selected_builds_with_values_from_var_files_and_defaults(tmp_path: Path) -> None:
    from hybridcore.packer.template_eval import resolve

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "q.pkr.hcl").write_text(
        'variable "url" {\n  type = string\n}\n'
        'variable "sum" {\n  type = string\n  default = "sha256:abcd"\n}\n'
        'locals {\n  mirror = "http://mirror"\n}\n'
        + "".join(f'source "qemu" "os{i}" {{\n  iso_urls = ["/local/os{i}.iso", "${{local.mirror}}/os{i}.iso"]\n'
                  f'  iso_checksum = "sha256:{i:04x}"\n}}\n' for i in range(93))
        + 'source "qemu" "a" {\n  iso_url = var.url\n  iso_checksum = var.sum\n}\n'
        + 'build {\n  sources = [' + ", ".join(f'"source.qemu.os{i}"' for i in range(93))
        + ', "source.qemu.a"]\n}\n')
    (tmp_path / "v.pkrvars.hcl").write_text('url = "http://h/a.iso"\n')
    info = analyze(tmp_path / "t", workdir=tmp_path)
    resolved = dataclasses.replace(info, resolved=resolve(info, var_files=[tmp_path / "v.pkrvars.hcl"],
                                                          only=["qemu.a", "qemu.os7"], env={}))
    found = downloads_of(resolved, {})
    # 2 of the template's 94 builds are selected: only their downloads are prefetched.
    assert sorted((d.urls, d.checksum) for d in found) == [
        (("http://h/a.iso",), "sha256:abcd"), (("http://mirror/os7.iso",), "sha256:0007")]


def test_a_prefetch_that_cannot_work_is_a_cache_error(tmp_path: Path) -> None:
    # Whatever goes wrong (a malformed URL, an unwritable cache), the build goes on and Packer downloads.
    with pytest.raises(CacheError):
        SharedCache(tmp_path / "cache").ensure(Download(("http://[bad",), "sha256:" + "0" * 64))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError):
        SharedCache(blocker / "cache").ensure(Download(("http://127.0.0.1:9/x",), "sha256:" + "0" * 64))


def test_concurrent_ensure_downloads_once(tmp_path: Path, server: Server) -> None:
    cache = SharedCache(tmp_path / "cache")
    d = Download((server.url_for("disk.raw"),), f"sha256:{SHA}")
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda: paths.append(cache.ensure(d))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(paths) == 6 and len(set(paths)) == 1
    assert server.requests.count("/disk.raw") == 1
    assert paths[0].read_bytes() == DATA and (paths[0].stat().st_mode & 0o222) == 0
    assert cache.verify()[0]["ok"]


def test_bad_checksum_is_not_published(tmp_path: Path, server: Server) -> None:
    cache = SharedCache(tmp_path / "cache")
    d = Download((server.url_for("disk.raw"),), "sha256:" + "0" * 64)
    with pytest.raises(CacheError) as info:
        cache.ensure(d)
    assert "checksum mismatch" in str(info.value)
    assert cache.entries() == []


def test_view_links_and_tamper_detection(tmp_path: Path, server: Server) -> None:
    cache = SharedCache(tmp_path / "cache")
    d = Download((server.url_for("disk.raw"),), f"sha256:{SHA}")
    shared = cache.ensure(d)
    view = cache.view(tmp_path / "run" / "view", [d.entry])
    link = view / d.entry
    assert link.is_symlink() and link.resolve() == shared
    assert cache.check([d.entry]) == []
    shared.chmod(0o644)
    shared.write_bytes(b"tampered")  # what Packer does through a symlink to wrong content, as root
    assert cache.check([d.entry]) == [d.entry]
    assert not shared.exists()
    assert any((tmp_path / "cache" / ".quarantine").iterdir())
    # The next ensure downloads a clean copy.
    assert cache.ensure(d).read_bytes() == DATA
    assert server.requests.count("/disk.raw") == 2


def test_prune_by_age(tmp_path: Path, server: Server) -> None:
    cache = SharedCache(tmp_path / "cache")
    d = Download((server.url_for("disk.raw"),), f"sha256:{SHA}")
    cache.ensure(d)
    assert cache.prune(older_than_days=1) == []
    assert cache.prune(older_than_days=0) == [d.entry]
    assert cache.entries() == []


def test_prune_leaves_untracked_files_and_foreign_quarantine_names(tmp_path: Path) -> None:
    cache = SharedCache(tmp_path / "c")
    (tmp_path / "c" / ".quarantine").mkdir(parents=True)
    users = tmp_path / "c" / "users.iso"
    users.write_bytes(b"u")
    odd = tmp_path / "c" / ".quarantine" / "notes.txt"
    odd.write_text("n")
    ours = tmp_path / "c" / ".quarantine" / "abc.iso.946684800"
    ours.write_text("q")
    for p in (users, odd, ours):
        os.utime(p, (946684800, 946684800))
    assert cache.prune(0) == []
    assert users.exists() and odd.exists() and not ours.exists()


def test_a_copy_quarantined_today_is_kept_whatever_its_mtime(tmp_path: Path) -> None:
    import time as _time

    (tmp_path / "c" / ".quarantine").mkdir(parents=True)
    fresh = tmp_path / "c" / ".quarantine" / f"abc.iso.{int(_time.time())}"
    fresh.write_text("q")
    os.utime(fresh, (946684800, 946684800))  # os.replace kept the old download's mtime
    SharedCache(tmp_path / "c").prune(1)
    assert fresh.exists()
