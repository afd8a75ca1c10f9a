"""The environment each Packer process gets, and the secrets the wrapper must never let out.

Secrets reach Packer only as ``PKR_VAR_<name>`` environment variables (read by the template through
its variable, or through ``env()`` in a variable default), never on argv. Every text the wrapper writes
or returns passes through a :class:`Redactor` built from every secret value it knows of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridcore.errors import MalformedVar
from hybridcore.packer.machine_readable import PACKER_COMMA

REDACTED = "<redacted>"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.I)
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Environment values shorter than this are not treated as secrets even under a secret-looking name:
# redacting "1" or "no" everywhere would wreck the logs without protecting anything.
MIN_ENV_SECRET_LEN = 4


class Secret:
    """A value that must never be printed. ``str()``/``repr()`` show a placeholder."""

    __slots__ = ("_value",)
    _value: Any

    def __init__(self, value: Any) -> None:
        object.__setattr__(self, "_value", value.reveal() if isinstance(value, Secret) else value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", str(self._value)))


def render_value(value: Any) -> str:
    """A variable value as Packer's ``-var``/``PKR_VAR_`` expects: strings raw, the rest as HCL (JSON)."""
    if isinstance(value, Secret):
        value = value.reveal()
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def parse_var_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` from the command line; the value may contain ``=``."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _VAR_NAME.match(name):
        raise MalformedVar(f"malformed --var {_mask(text)!r}: expected NAME=VALUE")
    return name, value


def _mask(text: str) -> str:
    # The malformed text may itself hold a secret: show only its shape.
    return text if len(text) <= 3 else text[:2] + "…"


@dataclass(frozen=True, slots=True)
class SplitVars:
    plain: Mapping[str, str]       # go on argv as -var, sorted
    secret: Mapping[str, str]      # go into PKR_VAR_<name>


def split_vars(values: Mapping[str, Any], sensitive: Iterable[str]) -> SplitVars:
    sensitive = set(sensitive)
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in values.items():
        if not _VAR_NAME.match(name):
            raise MalformedVar(f"malformed variable name {name!r}")
        (secret if isinstance(value, Secret) or name in sensitive else plain)[name] = render_value(value)
    return SplitVars(dict(sorted(plain.items())), dict(sorted(secret.items())))


def secret_values(
    split: SplitVars,
    base_env: Mapping[str, str],
    env_defaults: Iterable[str] = (),
) -> set[str]:
    """Every value that must be redacted: secret vars, env vars behind sensitive ``env("X")`` defaults,
    ``PKR_VAR_`` values of sensitive variables already in the environment, and secret-looking env vars."""
    values = set(split.secret.values())
    for name in env_defaults:
        if base_env.get(name):
            values.add(base_env[name])
    for name, value in base_env.items():
        if SECRET_NAME.search(name) and len(value) >= MIN_ENV_SECRET_LEN:
            values.add(value)
    return {v for v in values if v}


class Redactor:
    """Replaces every known secret (and its encodings in Packer's output) with ``<redacted>``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for s in secrets:
            if not s:
                continue
            variants.update(_variants(s))
            # A multi-line secret (a private key) arrives one line at a time: redact its lines too.
            variants.update(line.strip() for line in s.splitlines() if len(line.strip()) >= 8)
        ordered = sorted((v for v in variants if v), key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        self.count = len(ordered)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like structure."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, Mapping):
            return {self(str(k)): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        return obj


def _variants(s: str) -> set[str]:
    out = {s, s.replace(",", PACKER_COMMA).replace("\n", "\\n"), json.dumps(s)[1:-1]}
    return {v for v in out if v}


@dataclass(frozen=True, slots=True)
class PreparedEnv:
    env: Mapping[str, str]
    set_names: tuple[str, ...]     # what the wrapper set or overrode (names only, never values)


def prepare_env(
    base: Mapping[str, str],
    *,
    hybridcore_env: str,
    log_path: Path,
    tmpdir: Path,
    secret_vars: Mapping[str, str],
    cache_dir: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> PreparedEnv:
    """A fresh env dict for one Packer process; ``base`` (usually ``os.environ``) is never mutated."""
    env = dict(base)
    ours: dict[str, str] = {
        "PACKER_LOG": "1",
        "PACKER_LOG_PATH": str(log_path),
        "HYBRIDCORE_ENV": hybridcore_env,
        "CHECKPOINT_DISABLE": "1",
        "PACKER_NO_COLOR": "1",
        "TMPDIR": str(tmpdir),
    }
    if cache_dir is not None:
        ours["PACKER_CACHE_DIR"] = str(cache_dir)
    ours.update(extra or {})
    ours.update({f"PKR_VAR_{name}": value for name, value in secret_vars.items()})
    env.update(ours)
    return PreparedEnv(env=env, set_names=tuple(sorted(ours)))
