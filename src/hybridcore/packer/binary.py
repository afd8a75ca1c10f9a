"""Finding Packer, learning its version, and refusing versions the project does not allow."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hybridcore.errors import ConfigError, PackerNotFound, PackerVersionError
from hybridcore.files import atomic_write_bytes, private_dir

MIN_VERSION = "1.6.0"   # HCL2 variables, sensitive values and PKR_VAR_ work from here
# Compiled on first use: only when the cached `packer version` answer is stale.
@functools.cache
def _version_re() -> re.Pattern[str]:
    return re.compile(r"v?(\d+\.\d+\.\d+)")


@dataclass(frozen=True, slots=True)
class PackerBinary:
    """The Packer executable found and the version it reported."""

    path: str
    version: str

    @property
    def has_init(self) -> bool:
        return _vtuple(self.version) >= (1, 7, 0)

    @property
    def has_fmt_recursive(self) -> bool:
        return _vtuple(self.version) >= (1, 7, 1)


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")[:3])


def locate(binary: str | None) -> str:
    name = binary or os.environ.get("HYBRIDCORE_PACKER") or "packer"
    path = shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)
    if path is None:
        raise PackerNotFound(f"packer not found: {name!r} is not an executable on PATH")
    return os.path.abspath(path)


@functools.lru_cache(maxsize=16)
def _version_of(path: str, _stamp: tuple[int, int]) -> str:
    try:
        proc = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "CHECKPOINT_DISABLE": "1"})
    except (OSError, subprocess.SubprocessError) as exc:
        raise PackerNotFound(f"cannot run {path} version: {exc}") from None
    m = _version_re().search(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not m:
        raise PackerNotFound(f"{path} did not report a version (exit {proc.returncode})",
                             hint="is this really HashiCorp Packer? check [packer] binary")
    return m.group(1)


def _cached_version(path: str, st: os.stat_result, cache: Path | None) -> str:
    """``packer version`` costs 0.1-0.3 s; remember the answer per binary identity (inode, size, mtime)."""
    key = f"{path}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
    if cache is not None:
        with contextlib.suppress(OSError, ValueError):  # unreadable or not JSON: ask Packer again
            known = json.loads(cache.read_text())
            cached = known.get(key) if isinstance(known, dict) else None
            if isinstance(cached, str):
                return cached
    version = _version_of(path, (st.st_ino, st.st_mtime_ns))
    if cache is not None:
        with contextlib.suppress(OSError):  # an optimisation only
            private_dir(cache.parent)
            atomic_write_bytes(cache, json.dumps({key: version}).encode(), durable=False)
    return version


def discover(binary: str | None = None, constraint: str | None = None, *,
             cache: Path | None = None) -> PackerBinary:
    path = locate(binary)
    st = os.stat(path)
    version = _cached_version(path, st, cache)
    check_version(version, constraint, source=f"{path}")
    return PackerBinary(path=path, version=version)


def to_specifier(constraint: str) -> str:
    """Packer/Terraform constraints (``>= 1.6, < 2``, ``~> 1.7``) as PEP 440 specifiers."""
    parts = []
    for raw in constraint.split(","):
        item = raw.strip()
        if not item:
            continue
        m = re.match(r"^(~>|>=|<=|!=|==|=|>|<|~=)?\s*v?([0-9][0-9A-Za-z.\-+]*)$", item)
        if not m:
            raise ConfigError(f"invalid version constraint {constraint!r}",
                              hint="use e.g. \">=1.6,<2\" or \"~> 1.7\"")
        op = {"~>": "~=", "=": "==", None: "=="}.get(m.group(1), m.group(1))
        ver = m.group(2)
        if op == "~=" and ver.count(".") == 0:
            ver += ".0"
        parts.append(f"{op}{ver}")
    return ",".join(parts)


def satisfies(version: str, constraint: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return SpecifierSet(to_specifier(constraint)).contains(version, prereleases=True)
    except InvalidSpecifier:
        raise ConfigError(f"invalid version constraint {constraint!r}") from None


def check_version(version: str, constraint: str | None, *, source: str) -> None:
    if _vtuple(version) < _vtuple(MIN_VERSION):
        raise PackerVersionError(
            f"{source} is Packer {version}; hybridcore needs Packer >= {MIN_VERSION}",
            hint="upgrade Packer (Debian bookworm ships 1.6.6; HashiCorp's apt repo has current releases)",
        )
    if constraint and not satisfies(version, constraint):
        raise PackerVersionError(
            f"{source} is Packer {version}, which does not satisfy the required version {constraint!r}"
        )


def template_requires(version: str, required: str | None, template: Path) -> None:
    """The template's own ``packer { required_version }``, checked before Packer would reject it."""
    if required and not satisfies(version, required):
        raise PackerVersionError(
            f"{template}: packer {{ required_version = {required!r} }} is not met by Packer {version}",
            hint="install a matching Packer or change [packer] binary",
        )
