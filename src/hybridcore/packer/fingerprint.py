"""Content fingerprints of a build target's inputs, and the diff between two fingerprints.

A :class:`Fingerprint` hashes (blake3) every template and var file, every file under the provisioner
assets, the digest of each non-secret variable value and some plain metadata (``only``, ``except``,
``packer_version``, ``env``...). ``build`` compares the current fingerprint with the one ``validate`` (or
the last successful build) trusted; :func:`diff` says what changed. A
:class:`~hybridcore.packer.statcache.StatCache` spares reading files whose stat signature is known.

Walking rules (documented because they decide what counts as drift):

* keys are paths relative to ``root`` in posix form, or absolute when outside ``root``; relative input
  paths are taken relative to ``root`` (not the cwd) so the result never depends on where we run;
* a path named in ``files``/``assets`` is followed if it is a symlink (the operator named it); inside a
  walked directory a symlink whose target stays inside ``root`` is followed (what it points to is
  what the build copies); one that leaves ``root``, dangles or loops is hashed by its target string
  and, when it leaves ``root``, listed in :attr:`Fingerprint.outside` for the operator;
* ``.git`` and ``__pycache__`` entries are skipped, nothing else; FIFOs/sockets/devices are hashed by
  their type (opening a FIFO would block);
* a named path that does not exist is recorded as ``"missing"`` so that it shows up as drift;
* empty directories contribute nothing (Packer's file provisioner copies files, not empty dirs).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blake3 import blake3

from hybridcore.packer.fingerprint_walk import MISSING, PREFIX, InputUnreadable, Walk, hash_bytes

if TYPE_CHECKING:
    from hybridcore.packer.statcache import StatCache

__all__ = ["MISSING", "DriftDiff", "Fingerprint", "FingerprintInputs", "InputUnreadable", "compute", "diff"]

# Bumped if the canonical encoding changes, so old and new digests can never collide by accident.
_ENCODING_TAG = "hybridcore-fingerprint/1"

# Files at least this big are hashed one at a time with blake3's own thread pool over an mmap; smaller
# ones are spread over our thread pool (blake3 and read() release the GIL).
BIG_FILE_BYTES = 4 << 20
# Below this many files to hash the thread pool costs more than it saves.
_POOL_MIN_FILES = 32
_POOL_WORKERS = min(32, (os.cpu_count() or 1) * 4)
# Hashing page-cached small files is GIL-bound Python work per file: on 2 cores one thread measured
# 323 ms for 10,000 files + 256 MiB against 417-700 ms with 2-8 workers (bench/drift.py). A pool only
# pays where there are cores to spare for the I/O waits.
_POOL_MIN_CPUS = 8
_READ_CHUNK = 1 << 20


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FingerprintInputs:
    """What a target's fingerprint hashes: files, assets, variables, metadata."""

    root: Path
    files: tuple[Path, ...] = ()
    assets: tuple[Path, ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A target's inputs hashed: the digest and each part's own hash."""

    digest: str
    files: Mapping[str, str]
    vars: Mapping[str, str]
    meta: Mapping[str, str]
    # "key -> target" of links out of the project: hashed by target path only (not in the digest).
    outside: tuple[str, ...] = ()

    def to_entries(self) -> dict[str, Any]:
        return {"files": dict(self.files), "vars": dict(self.vars), "meta": dict(self.meta)}

    @classmethod
    def from_entries(cls, digest: str, entries: Mapping[str, Any]) -> Fingerprint:
        """Rebuild a stored fingerprint; raises ``ValueError`` if the entries are not str->str maps."""
        parts: list[dict[str, str]] = []
        for name in ("files", "vars", "meta"):
            raw = entries.get(name, {})
            if not isinstance(raw, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
                raise ValueError(f"fingerprint entries: {name!r} must map strings to strings")
            parts.append(dict(raw))
        if not isinstance(digest, str):
            raise ValueError("fingerprint digest must be a string")
        return cls(digest=digest, files=parts[0], vars=parts[1], meta=parts[2])

    @classmethod
    def from_parts(cls, files: Mapping[str, str], vars: Mapping[str, str], meta: Mapping[str, str],
                   outside: tuple[str, ...] = ()) -> Fingerprint:
        """A fingerprint whose digest is computed from its entries (the only way to get one right)."""
        return cls(_canonical_digest(files, vars, meta), dict(files), dict(vars), dict(meta), outside)

    def verify(self) -> bool:
        """Whether ``digest`` matches the entries (a stored record that was edited fails this)."""
        return self.digest == _canonical_digest(self.files, self.vars, self.meta)


@dataclass(frozen=True, slots=True)
class DriftDiff:
    """What changed between a trusted fingerprint and the current one."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    vars_changed: tuple[str, ...] = ()
    meta_changed: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    untrusted: bool = False
    # Keys among added/changed whose current entry is "missing" (a named input that is gone).
    missing: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.untrusted or self.added or self.removed or self.changed or self.vars_changed
                    or self.meta_changed)

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "untrusted": self.untrusted, "added": list(self.added),
                "removed": list(self.removed), "changed": list(self.changed), "vars_changed": list(self.vars_changed),
                "meta_changed": {k: [old, new] for k, (old, new) in sorted(self.meta_changed.items())},
                "missing": list(self.missing)}

    def summary(self, *, limit: int = 50) -> str:
        """Human text, one line per change; each section is cut after ``limit`` lines."""
        if self.clean:
            return "no drift"
        lines: list[str] = []
        if self.untrusted:
            lines.append("no trusted fingerprint recorded for this target (run validate to trust it)")
        gone = set(self.missing)
        for mark, keys in (("+ ", self.added), ("- ", self.removed), ("~ ", self.changed)):
            lines.extend(_cut([f"{mark}{k}" + (" (missing)" if k in gone else "") for k in keys], limit))
        lines.extend(_cut([f"var {name} changed" for name in self.vars_changed], limit))
        for name, (old, new) in sorted(self.meta_changed.items()):
            lines.append(f"{name} {'(none)' if old is None else old} -> {'(none)' if new is None else new}")
        return "\n".join(lines)


def _cut(lines: list[str], limit: int) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"  ... and {len(lines) - limit} more"]


# --- hashing --------------------------------------------------------------------------------------


def _hash_file(path: str, st: os.stat_result) -> tuple[str, bool]:
    """Digest of a regular file's bytes, and whether the file stayed put while we read it.

    Tests count calls to this function to prove the warm path reads nothing.
    """
    if st.st_size >= BIG_FILE_BYTES:
        hasher = blake3(max_threads=blake3.AUTO)
        hasher.update_mmap(path)
        after = os.stat(path)
    else:
        hasher = blake3()
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while True:
                # Ask for one byte more than expected so a small file is one read() plus EOF check.
                chunk = os.read(fd, max(st.st_size + 1, 1) if st.st_size < _READ_CHUNK else _READ_CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
            after = os.fstat(fd)
        finally:
            os.close(fd)
    stable = (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns) == (
        st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return PREFIX + hasher.hexdigest(), stable


def _canonical_digest(files: Mapping[str, str], vars: Mapping[str, str], meta: Mapping[str, str]) -> str:
    # Sorted pairs in compact ASCII JSON: unambiguous, independent of dict order, and stable for
    # undecodable file names (surrogate escapes are written as \\udcXX).
    doc = [_ENCODING_TAG, sorted(files.items()), sorted(vars.items()), sorted(meta.items())]
    return hash_bytes(json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii"))


# --- discovery ------------------------------------------------------------------------------------


def _hash_one(item: tuple[str, str, os.stat_result]) -> tuple[str, str, bool]:
    key, path, st = item
    try:
        digest, stable = _hash_file(path, st)
    except FileNotFoundError:
        return key, MISSING, False
    except OSError as exc:
        raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from exc
    return key, digest, stable


def _hash_chunk(items: list[tuple[str, str, os.stat_result]]) -> list[tuple[str, str, bool]]:
    return [_hash_one(item) for item in items]


def _hash_pending(items: list[tuple[str, str, os.stat_result]]) -> Iterable[tuple[str, str, bool]]:
    big = [it for it in items if it[2].st_size >= BIG_FILE_BYTES]
    small = [it for it in items if it[2].st_size < BIG_FILE_BYTES]
    # Big files one by one: each already uses every core through blake3's own threads.
    results = [_hash_one(it) for it in big]
    if len(small) < _POOL_MIN_FILES or (os.cpu_count() or 1) < _POOL_MIN_CPUS:
        results.extend(_hash_chunk(small))
        return results
    # Chunks (not one task per file) keep executor overhead off the per-file cost.
    n_chunks = _POOL_WORKERS * 4
    chunks = [small[i::n_chunks] for i in range(n_chunks)]
    with ThreadPoolExecutor(max_workers=_POOL_WORKERS, thread_name_prefix="hc-hash") as pool:
        for part in pool.map(_hash_chunk, [c for c in chunks if c]):
            results.extend(part)
    return results


def compute(inputs: FingerprintInputs, *, cache: StatCache | None = None) -> Fingerprint:
    """Fingerprint ``inputs``; with ``cache``, files whose stat signature is known are not read.

    The cache is updated in memory; call ``cache.save()`` to persist it.
    """
    started_ns = time.time_ns()
    root = os.path.abspath(os.fspath(inputs.root))
    walk = Walk(root, cache)
    for raw in (*inputs.files, *inputs.assets):
        walk.add_named(raw)

    files = walk.digests
    pending = [(key, path, st) for key, (path, st) in walk.pending.items()]
    for key, digest, stable in _hash_pending(pending):
        files[key] = digest
        if cache is not None and stable:
            path, st = walk.pending[key]
            # Judge raciness against when this run started, not when the file was read: a write
            # after our stat but in the same mtime tick would otherwise hide behind the cache.
            cache.store(path, st, digest, taken_ns=started_ns)

    var_digests: dict[str, str] = {}
    for name, value in inputs.vars.items():
        if not isinstance(value, str):
            raise TypeError(f"fingerprint var {name!r} must be rendered to str, got {type(value).__name__}")
        var_digests[name] = hash_bytes(value.encode("utf-8", "surrogatepass"))
    meta = {str(k): str(v) for k, v in inputs.meta.items()}
    return Fingerprint.from_parts(files, var_digests, meta, tuple(walk.outside))


# --- diff -----------------------------------------------------------------------------------------


def diff(trusted: Fingerprint | None, current: Fingerprint) -> DriftDiff:
    """What changed from ``trusted`` to ``current``.

    File keys are compared as sets: a key only in ``current`` is *added*, only in ``trusted``
    *removed*, in both with different digests *changed* (including a file that became ``"missing"``;
    such keys are also listed in ``missing`` and marked in the summary). With no trusted record
    everything is reported as new and the diff is ``untrusted`` (never clean).
    """
    missing = tuple(sorted(k for k, v in current.files.items() if v == MISSING))
    if trusted is None:
        return DriftDiff(added=tuple(sorted(current.files)), vars_changed=tuple(sorted(current.vars)),
                         meta_changed={k: (None, v) for k, v in sorted(current.meta.items())}, untrusted=True,
                         missing=missing)
    old, new = trusted.files, current.files
    added = tuple(sorted(k for k in new if k not in old))
    removed = tuple(sorted(k for k in old if k not in new))
    changed = tuple(sorted(k for k, v in new.items() if k in old and old[k] != v))
    ov, nv = trusted.vars, current.vars
    vars_changed = tuple(sorted(k for k in ov.keys() | nv.keys() if ov.get(k) != nv.get(k)))
    om, nm = trusted.meta, current.meta
    meta_changed = {k: (om.get(k), nm.get(k)) for k in sorted(om.keys() | nm.keys()) if om.get(k) != nm.get(k)}
    drifted = set(added) | set(changed)
    return DriftDiff(added, removed, changed, vars_changed, meta_changed, untrusted=False,
                     missing=tuple(k for k in missing if k in drifted))
