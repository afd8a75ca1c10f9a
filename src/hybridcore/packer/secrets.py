"""The environment each Packer process gets, and the secrets the wrapper must never let out.

No variable value reaches Packer through argv or ``PKR_VAR_*``: the wrapper writes every value it
was given into one generated var file (``varfile.py``; which values are secret is decided in
``planvars.py``). Every text the wrapper writes or returns passes through a :class:`Redactor` built
from every secret value it knows of (the engine is in ``redaction.py``). A declared secret too short to
redact is refused before anything runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hybridcore.errors import HybridcoreError, MalformedVar
from hybridcore.packer.machine_readable import PACKER_COMMA
from hybridcore.packer.redaction import (
    MIN_HEURISTIC_LEN,
    MIN_SECRET_LEN,
    PACKER_IDENTIFIERS,
    REDACTED,
    BaseRedactor,
)

__all__ = ["MIN_HEURISTIC_LEN", "MIN_SECRET_LEN", "PACKER_IDENTIFIERS", "REDACTED", "SECRET_NAME",
           "PreparedEnv", "Redactor", "Secret", "SplitVars", "check_secret", "check_secrets",
           "env_redactor", "heuristic_secrets", "leaves", "named_secrets", "parse_var_assignment", "prepare_env",
           "render_value", "secret_texts", "url_passwords", "valid_var_name"]

# Names under which an environment value is taken for a secret. Such values are redacted only when
# MIN_HEURISTIC_LEN+ long: "1", "no" or "packer" everywhere would wreck the logs and records.
# PW/PASS/AUTH only as whole words: PWD (the working directory) and PASSENGER are not secrets.
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|(?:^|_)(?:PASS|PW|AUTH)(?:_|$)", re.I)
# The password of a URL held in any environment value (HYBRIDCORE_STATE_URL, DATABASE_URL...).
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


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
    """Given values, rendered as text, by sensitivity (both go into the generated var file). Only
    ``plain`` values may be shown, hashed into fingerprints or used to resolve template paths."""

    plain: Mapping[str, str]
    secret: Mapping[str, str]


def check_secret(name: str, value: Any, *, what: str = "secret variable", via: str = "",
                 error: type[HybridcoreError] = MalformedVar) -> None:
    """Refuse a declared secret that is non-empty but too short to redact.

    Whitespace does not count: Packer trims it from the ends of lines, so " ab " would be printed as
    "ab". The message gives the name, where the value came from (``via``) and the length, never the
    value."""
    text = render_value(value)
    core = len(text.strip())
    if text and core < MIN_SECRET_LEN:
        raise error(
            f"{what} {name!r}{f' ({via})' if via else ''} has {core} non-blank character{'s' * (core != 1)}; "
            f"a secret needs at least {MIN_SECRET_LEN}",
            hint=f"a value this short cannot be redacted without mangling every log line that contains "
                 f"it; use a secret of {MIN_SECRET_LEN}+ characters, or pass the value as a plain "
                 "variable if it is not secret",
        )


def check_secrets(values: Mapping[str, Any], sensitive: Iterable[str] | None = None, *,
                  what: str = "secret variable", error: type[HybridcoreError] = MalformedVar) -> None:
    """:func:`check_secret` for every ``Secret(...)`` value and every value of a ``sensitive`` name;
    for every value when ``sensitive`` is ``None`` (``--secret``, toml ``secrets``)."""
    names = set(values) if sensitive is None else set(sensitive)
    for name, value in values.items():
        if isinstance(value, Secret) or name in names:
            check_secret(name, value, what=what, error=error)


def valid_var_name(name: object) -> bool:
    return isinstance(name, str) and bool(_VAR_NAME.match(name))


def leaves(value: Any) -> Iterator[Any]:
    """The scalars inside ``value``: itself, or every value inside its lists and maps, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            yield item


def secret_texts(value: Any) -> set[str]:
    """The texts a secret value can be printed as: its rendering and, for a list or map, each
    string (or number) inside it (``jsonencode`` prints those raw between punctuation)."""
    if isinstance(value, Secret):
        value = value.reveal()
    texts = {render_value(value)}
    texts |= {str(item) for item in leaves(value)
              if isinstance(item, str | int | float) and not isinstance(item, bool)}
    return {t for t in texts if t}


def named_secrets(base_env: Mapping[str, str]) -> set[str]:
    """Environment values under a secret-looking name, MIN_HEURISTIC_LEN+ characters long."""
    return {v for n, v in base_env.items() if SECRET_NAME.search(n) and len(v) >= MIN_HEURISTIC_LEN}


def url_passwords(base_env: Mapping[str, str]) -> set[str]:
    """The password of any URL held in an environment value (raw and percent-decoded), 4+ long."""
    values: set[str] = set()
    for value in base_env.values():
        for m in _URL_PASSWORD.finditer(value):
            values |= {p for p in (m.group(1), unquote(m.group(1))) if len(p) >= MIN_SECRET_LEN}
    return values


def heuristic_secrets(base_env: Mapping[str, str]) -> set[str]:
    """Environment values taken for secrets without a declaration: :func:`named_secrets` and
    :func:`url_passwords`."""
    return named_secrets(base_env) | url_passwords(base_env)


class Redactor(BaseRedactor):
    """Replaces every known secret, in every form Packer and provisioners print it, with a marker
    (``<redacted>`` unless a secret could be read across it). Bound to Packer's machine-readable comma."""

    machine_comma = PACKER_COMMA


def env_redactor(base_env: Mapping[str, str], declared: Iterable[str] = ()) -> Redactor:
    """A redactor for ``declared`` secret values plus what the environment alone gives away."""
    return Redactor({*declared, *url_passwords(base_env)}, heuristic=named_secrets(base_env))


@dataclass(frozen=True, slots=True)
class PreparedEnv:
    """The environment a Packer process gets, and which names the wrapper set."""

    env: Mapping[str, str]
    set_names: tuple[str, ...]     # what the wrapper set or overrode (names only, never values)


def prepare_env(
    base: Mapping[str, str],
    *,
    hybridcore_env: str,
    log_path: Path,
    tmpdir: Path,
    cache_dir: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> PreparedEnv:
    """A fresh env dict for one Packer process; ``base`` (usually ``os.environ``) is never mutated.

    ``HYBRIDCORE_*`` variables of the wrapper's own environment (``HYBRIDCORE_STATE_URL`` holds a
    database password) are not passed on: Packer gets only those set here. No ``PKR_VAR_*`` is set:
    given values travel in the generated var file (``PKR_VAR_`` would lose to the user's var files and
    legacy JSON templates ignore it); those the user exported are passed on as they are."""
    env = {k: v for k, v in base.items() if not k.startswith("HYBRIDCORE_")}
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
    env.update(ours)
    return PreparedEnv(env=env, set_names=tuple(sorted(ours)))
