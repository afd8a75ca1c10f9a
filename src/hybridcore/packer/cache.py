"""The shared download cache: each ISO or disk image is fetched once, verified, then shared read-only.

Packer 1.6.6 names a cache entry ``sha1("<type>:<hex>") + "." + iso_target_extension`` and trusts an
existing entry whose checksum matches (verified here, see notes-packer-cache.md). So the wrapper:

1. works out every download a build needs from its template (``iso_url``/``iso_urls`` +
   ``iso_checksum``), and fetches each one into the shared cache under a per-entry file lock, so
   targets needing the same image download it once; it verifies the checksum before publishing the
   entry (temp file + rename) and records a blake3 digest of it in ``index.json``;
2. gives each build its own *view*: a private, writable ``PACKER_CACHE_DIR`` whose entries are
   symlinks to the verified shared files. Packer only reads an entry whose checksum matches, and
   anything it writes (its lock files, the qemu port reservations, downloads the wrapper could not
   predict) lands in the view, never in the shared folder;
3. re-checks the shared entries' digests after the build. As root, file modes do not stop writes
   (Packer writes *through* a symlink when an entry's content is wrong), so a changed entry is
   quarantined and reported rather than trusted.

Entries with ``iso_checksum = "none"`` or a ``file:`` checksum are left to Packer (private per build):
they cannot be verified before use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any

from hybridcore.errors import CacheError
from hybridcore.files import atomic_write_bytes, atomic_writer, open_private, private_dir, refuse_link
from hybridcore.packer.templates import TemplateInfo, interpolate

INDEX = "index.json"
OnProgress = Callable[[int, int | None], None]   # (bytes written so far, total or None)
_HASHES = {"md5", "sha1", "sha256", "sha512"}
_CHUNK = 1 << 20
_QUARANTINED = re.compile(r"^[^.].*\.([0-9]+)$")  # quarantine(): "<entry>.<seconds>"


@dataclass(frozen=True, slots=True)
class Download:
    urls: tuple[str, ...]
    checksum: str         # "<type>:<hex>" exactly as the template resolves it
    extension: str = "iso"

    @property
    def algorithm(self) -> str:
        return self.checksum.split(":", 1)[0].lower()

    @property
    def expected(self) -> str:
        return self.checksum.split(":", 1)[1].lower()

    @property
    def entry(self) -> str:
        """The file name Packer looks for in ``PACKER_CACHE_DIR``."""
        return hashlib.sha1(self.checksum.encode(), usedforsecurity=False).hexdigest() + "." + self.extension


def downloads_of(info: TemplateInfo | None, variables: Mapping[str, str]) -> list[Download]:
    """The verifiable downloads of the builds a run selects (``only``/``except``), with ``iso_url``/
    ``iso_checksum`` as the plan resolved them (var files, variable defaults, locals). A download that
    cannot be resolved or verified in advance is left to Packer: prefetching is an optimisation."""
    if info is None:
        return []
    resolved = info.resolved
    if resolved is not None:
        candidates = [resolved.attrs[name] for name in resolved.selected if name in resolved.attrs]
    else:
        candidates = list(info.sources.values())
    out: dict[str, Download] = {}
    for attrs in candidates:
        d = _download(attrs, variables)
        if d is not None:
            out.setdefault(d.entry, d)
    return list(out.values())


def _download(attrs: Mapping[str, Any], variables: Mapping[str, str]) -> Download | None:
    def text(value: Any) -> str | None:
        return interpolate(value, None, variables)

    checksum = text(attrs.get("iso_checksum"))
    if not checksum or ":" not in checksum or checksum.split(":", 1)[0].lower() not in _HASHES:
        return None
    raw_urls = attrs.get("iso_urls") or [attrs.get("iso_url")]
    # Packer tries iso_urls in order and keeps the first that works; the cache entry is named by the
    # checksum, so the first http(s) one can fill it.
    urls = tuple(u for u in (text(x) for x in raw_urls) if u and u.startswith(("http://", "https://")))
    if not urls:
        return None
    return Download(urls=urls, checksum=checksum, extension=text(attrs.get("iso_target_extension")) or "iso")


def file_digest(path: Path, algorithm: str) -> str:
    if algorithm == "blake3":
        from blake3 import blake3

        h = blake3(max_threads=blake3.AUTO)
        h.update_mmap(str(path))
        return str(h.hexdigest())
    hasher = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class SharedCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- index ------------------------------------------------------------------------------------

    def _index_path(self) -> Path:
        return self.root / INDEX

    def index(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _update_index(self, entry: str, record: Mapping[str, Any] | None) -> None:
        from filelock import FileLock

        with FileLock(str(self.root / ".index.lock"), timeout=60):
            data = self.index()
            if record is None:
                data.pop(entry, None)
            else:
                data[entry] = {**data.get(entry, {}), **record}
            atomic_write_bytes(self._index_path(), json.dumps(data, indent=2, sort_keys=True).encode())

    # -- fetch ------------------------------------------------------------------------------------

    def ensure(self, d: Download, *, timeout: float = 60.0, on_progress: OnProgress | None = None) -> Path:
        """The verified shared entry for ``d``, downloading it once across threads and processes.

        ``on_progress(done, total)`` is called after every chunk written (``total``: the server's
        Content-Length, or None), e.g. a ``download_progress.DownloadProgress``. Every failure is a
        :class:`CacheError`: a build whose prefetch fails lets Packer download."""
        try:
            return self._ensure(d, timeout, on_progress)
        except CacheError:
            raise
        except (OSError, ValueError, HTTPException) as exc:
            raise CacheError(f"could not prefetch {d.urls[0]}: {exc}") from exc

    def _ensure(self, d: Download, timeout: float, on_progress: OnProgress | None) -> Path:
        from filelock import FileLock

        private_dir(self.root)
        private_dir(self.root / ".locks")
        path = self.root / d.entry
        with FileLock(str(self.root / ".locks" / f"{d.entry}.lock"), timeout=3600):
            known = self.index().get(d.entry)
            if path.is_file() and known and known.get("blake3") == file_digest(path, "blake3"):
                self._update_index(d.entry, {"last_used": time.time()})
                return path
            if path.exists():
                self.quarantine(d.entry, "entry present but not verified")
            # Published read-only, and only once verified: a failed download or a wrong checksum
            # leaves no entry behind.
            with atomic_writer(path, 0o444) as fh:
                errors = []
                for url in d.urls:
                    try:
                        got = _fetch(url, fh, timeout, d.algorithm, on_progress)
                        break
                    except (OSError, ValueError, HTTPException) as exc:
                        errors.append(f"{url}: {exc}")
                        fh.seek(0)
                        fh.truncate()
                else:
                    raise CacheError(f"could not download {d.urls[0]}: {'; '.join(errors)}")
                if got != d.expected:
                    raise CacheError(f"checksum mismatch for {d.urls[0]}: expected {d.expected}, got {got}",
                                     hint="fix iso_checksum (a changed checksum is a new cache entry)")
            self._update_index(d.entry, {
                "url": d.urls[0], "checksum": d.checksum, "size": path.stat().st_size,
                "blake3": file_digest(path, "blake3"), "fetched_at": time.time(), "last_used": time.time(),
            })
            return path

    # -- per-build views --------------------------------------------------------------------------

    def view(self, folder: Path, entries: Iterable[str]) -> Path:
        """A private PACKER_CACHE_DIR holding symlinks to the shared entries a build needs."""
        private_dir(folder)
        for entry in entries:
            link = folder / entry
            if not link.exists():
                link.symlink_to(self.root / entry)
        return folder

    def check(self, entries: Iterable[str]) -> list[str]:
        """Entries whose content no longer matches the recorded digest (each is quarantined)."""
        bad = []
        index = self.index()
        for entry in entries:
            path = self.root / entry
            want = index.get(entry, {}).get("blake3")
            if want is None or not path.is_file() or file_digest(path, "blake3") != want:
                bad.append(entry)
                self.quarantine(entry, "digest changed while shared")
        return bad

    def quarantine(self, entry: str, reason: str) -> None:
        path = self.root / entry
        qdir = private_dir(self.root / ".quarantine")
        if path.exists() or path.is_symlink():
            os.replace(path, qdir / f"{entry}.{int(time.time())}")
        self._update_index(entry, None)
        with open_private(qdir / "reasons.log", append=True, encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {entry}: {reason}\n")

    # -- management -------------------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        index = self.index()
        out = []
        for path in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if path.name.startswith(".") or path.name == INDEX or not path.is_file():
                continue
            meta = index.get(path.name, {})
            out.append({"entry": path.name, "size": path.stat().st_size, "url": meta.get("url"),
                        "checksum": meta.get("checksum"), "last_used": meta.get("last_used"),
                        "tracked": bool(meta)})
        return out

    def verify(self) -> list[dict[str, Any]]:
        """Re-hash every entry with its declared checksum; bad ones are quarantined."""
        report = []
        for item in self.entries():
            meta = self.index().get(item["entry"], {})
            checksum = meta.get("checksum")
            if not checksum:
                report.append({**item, "ok": False, "problem": "not recorded by hybridcore"})
                continue
            algorithm, expected = checksum.split(":", 1)
            ok = file_digest(self.root / item["entry"], algorithm.lower()) == expected.lower()
            if not ok:
                self.quarantine(item["entry"], "checksum mismatch on verify")
            report.append({**item, "ok": ok, "problem": None if ok else "checksum mismatch (quarantined)"})
        return report

    def prune(self, older_than_days: float) -> list[str]:
        """Remove entries hybridcore recorded and nobody used for ``older_than_days`` days, and
        quarantined copies of that age. A file the index does not record is not ours: left alone,
        whatever its age; nothing is removed through a link."""
        from filelock import FileLock

        cutoff = time.time() - older_than_days * 86400
        removed = []
        private_dir(self.root)
        qdir = self.root / ".quarantine"
        refuse_link(qdir)  # before anything is removed: a planted link fails the whole prune
        private_dir(self.root / ".locks")
        for item in self.entries():
            if not item["tracked"]:
                continue
            # The entry's own lock: a build fetching or linking it right now is not pulled from under.
            with FileLock(str(self.root / ".locks" / f"{item['entry']}.lock"), timeout=3600):
                meta = self.index().get(item["entry"], {})
                path = self.root / item["entry"]
                if not meta or not path.exists():
                    continue
                last = meta.get("last_used") or path.lstat().st_mtime
                if last < cutoff:
                    path.unlink()
                    self._update_index(item["entry"], None)
                    removed.append(item["entry"])
        if qdir.is_dir():
            for path in qdir.iterdir():
                # Only what quarantine() moved there: "<entry>.<seconds>" (when it was quarantined; the
                # file keeps its download's mtime), a file or link, never a folder.
                m = _QUARANTINED.match(path.name)
                with contextlib.suppress(FileNotFoundError):   # another prune got there first
                    if m and int(m.group(1)) < cutoff and not stat.S_ISDIR(path.lstat().st_mode):
                        path.unlink()
        return removed


def _fetch(url: str, dest: IO[bytes], timeout: float, algorithm: str, on_progress: OnProgress | None = None) -> str:
    """Download ``url`` into ``dest``; the hex digest of what was written, by ``algorithm``."""
    hasher = hashlib.new(algorithm)
    request = urllib.request.Request(url, headers={"User-Agent": "hybridcore-packer"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        total, done = response.length, 0  # Content-Length (None if not sent); read() counts it down
        while chunk := response.read(_CHUNK):
            dest.write(chunk)
            hasher.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return hasher.hexdigest()
