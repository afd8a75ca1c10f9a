"""Proves the qemu support: a real ``packer build`` of examples/templates/qemu from a loopback server.

The download cache is checked by counting HTTP requests: the first build fetches the disk once, a
second build with the same ``PACKER_CACHE_DIR`` fetches nothing. Set ``HYBRIDCORE_WRITE_TRANSCRIPTS=1``
to refresh tests/golden/transcripts/qemu.real.txt from the first run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .bootdisk import SECTOR, boot_sector, make_boot_disk
from .http_server import serve_directory

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "examples" / "templates" / "qemu"
TRANSCRIPT = REPO / "tests" / "golden" / "transcripts" / "qemu.real.txt"
PACKER = shutil.which("packer")
BUILD_TIMEOUT = 300  # seconds; a build takes ~4.5 s here, TCG on a loaded CI box is slower

pytestmark = pytest.mark.integration

needs_qemu = pytest.mark.skipif(
    PACKER is None or shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None,
    reason="packer, qemu-system-x86 and qemu-utils are needed",
)


def test_boot_sector_layout(tmp_path: Path) -> None:
    sector = boot_sector()
    assert len(sector) == SECTOR
    assert sector[-2:] == b"\x55\xaa"
    assert b"\xcd\x15" in sector  # int 15h (the wait)
    assert b"\x0f\x01\x1e\x19\x7c" in sector  # lidt [0x7c19]
    disk = tmp_path / "d.raw"
    digest = make_boot_disk(disk, 4096)
    data = disk.read_bytes()
    assert len(data) == 4096
    assert data[:SECTOR] == sector
    assert digest == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="multiple"):
        make_boot_disk(tmp_path / "bad.raw", 1000)


def test_server_counts_requests_per_path(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")
    with serve_directory(tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.url.endswith("/")
        for _ in range(2):
            with urllib.request.urlopen(server.url_for("a.bin")) as resp:
                assert resp.read() == b"abc"
        assert server.requests.count("/a.bin") == 2
        assert server.requests.count("a.bin") == 2
        assert server.requests.count("/other") == 0
        assert server.requests.total() == 2


def _packer_build(url: str, checksum: str, cache: Path, out: Path, cwd: Path) -> tuple[int, str, float]:
    env = dict(os.environ, PACKER_CACHE_DIR=str(cache), CHECKPOINT_DISABLE="1")
    for noisy in ("PACKER_LOG", "PACKER_LOG_PATH"):
        env.pop(noisy, None)
    argv = [
        str(PACKER), "build", "-machine-readable",
        "-var", f"iso_url={url}",
        "-var", f"iso_checksum={checksum}",
        "-var", f"output_directory={out}",
        str(TEMPLATE_DIR),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def _artifact_fields(stdout: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        parts = line.split(",", 5)
        if len(parts) >= 5 and parts[2] == "artifact" and parts[3] == "0":
            fields[parts[4]] = parts[5] if len(parts) > 5 else ""
    return fields


@needs_qemu
def test_real_qemu_build_downloads_once_then_uses_cache(tmp_path: Path) -> None:
    served = tmp_path / "srv"
    digest = make_boot_disk(served / "bootdisk.raw")
    cache = tmp_path / "cache"  # fresh: the first build must download
    checksum = f"sha256:{digest}"
    # The cache entry name Packer 1.6.6 uses (see specs/hybridcore-packer/notes-packer-cache.md).
    entry = cache / (hashlib.sha1(checksum.encode()).hexdigest() + ".iso")

    with serve_directory(served) as server:
        url = server.url_for("bootdisk.raw")
        out1 = tmp_path / "out1"
        rc, output, wall1 = _packer_build(url, checksum, cache, out1, tmp_path)
        assert rc == 0, output[-4000:]
        fields = _artifact_fields(output)
        assert fields["builder-id"] == "transcend.qemu", fields
        assert fields["files-count"] == "1"
        image = out1 / "hybridcore-qemu.raw"
        assert fields["file"] == f"0,{image}"
        assert image.stat().st_size == 1 << 20
        assert hashlib.sha256(image.read_bytes()).hexdigest() == digest  # the guest wrote nothing
        assert server.requests.count("/bootdisk.raw") == 1, server.requests.snapshot()
        assert entry.is_file(), sorted(p.name for p in cache.iterdir())
        if os.environ.get("HYBRIDCORE_WRITE_TRANSCRIPTS") == "1":
            TRANSCRIPT.write_text(output)

        entry_stat = entry.stat()
        rc, output, wall2 = _packer_build(url, checksum, cache, tmp_path / "out2", tmp_path)
        assert rc == 0, output[-4000:]
        assert _artifact_fields(output)["builder-id"] == "transcend.qemu"
        assert server.requests.count("/bootdisk.raw") == 1, server.requests.snapshot()
        assert server.requests.total(method=None) == 2  # plus one HEAD, both from the first build
        # The cache file is only read: qemu-img converts it into output_directory.
        assert (entry.stat().st_ino, entry.stat().st_mtime_ns) == (entry_stat.st_ino, entry_stat.st_mtime_ns)
    print(f"qemu builds: first {wall1:.2f}s (download), second {wall2:.2f}s (cached)")
