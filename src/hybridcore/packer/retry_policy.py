"""How long to wait before retrying a failure of a given category: policies as data, delays as pure math.

The policies live in ``rules.toml`` (``[retry.<category>]``, falling back to ``[retry.default]``), beside
the rules that produce the categories. The shape follows the providers' own SDKs: exponential backoff
capped at a maximum, plus jitter so parallel builds do not retry in lock-step (botocore's retry handler,
go-autorest's ``DelayForBackoffWithCap``), with a longer base for throttling and capacity than for a
network blip, and a server's ``Retry-After`` honoured when Packer prints one (go-autorest's
``DelayWithRetryAfter``, GitHub's rate-limit reset that ``packer init`` reports).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridcore.errors import ConfigError
from hybridcore.packer.classify_rules import catalogue_data

__all__ = ["RetryPolicy", "retry_after_hint", "retry_delay", "retry_policy"]

_POLICY_KEYS = frozenset({"base", "factor", "max", "jitter", "max_hint", "wait_for_holder"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait ``min(base * factor**(attempt-1), max) + jitter * u`` seconds after failed attempt ``attempt``.

    ``max_hint`` caps how long a server-supplied Retry-After is honoured; ``wait_for_holder`` marks a
    category (``locked``) whose retries poll until someone else's lock is released, bounded by the
    caller's lock timeout rather than by an attempt count.
    """

    category: str
    base: float
    factor: float
    max: float
    jitter: float
    max_hint: float
    wait_for_holder: bool = False

    def delay(self, attempt: int, *, u: float = 0.0, hint: float | None = None, scale: float = 1.0) -> float:
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        if not 0.0 <= u <= 1.0:
            raise ValueError(f"u is a uniform draw in [0, 1], got {u}")
        # Cap the exponent too: 2**1000 would overflow long before min() could cap it.
        growth = self.factor ** min(attempt - 1, 64)
        wait = min(self.base * growth, self.max) * scale + self.jitter * u
        if hint is not None and hint > 0:
            wait = max(wait, min(hint, self.max_hint))
        return round(wait, 3)


def _number(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: {key!r} must be a non-negative number, got {value!r}")
    return float(value)


def _parse(category: str, raw: Mapping[str, Any], fallback: RetryPolicy | None) -> RetryPolicy:
    where = f"built-in rules.toml [retry.{category}]"
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    base = fallback or RetryPolicy(category, 5.0, 2.0, 120.0, 1.0, 600.0)
    holder = raw.get("wait_for_holder", base.wait_for_holder)
    if not isinstance(holder, bool):
        raise ConfigError(f"{where}: 'wait_for_holder' must be true or false")
    return RetryPolicy(
        category=category,
        base=_number(raw, "base", base.base, where),
        factor=max(1.0, _number(raw, "factor", base.factor, where)),
        max=_number(raw, "max", base.max, where),
        jitter=_number(raw, "jitter", base.jitter, where),
        max_hint=_number(raw, "max_hint", base.max_hint, where),
        wait_for_holder=holder,
    )


@functools.cache
def _policies() -> Mapping[str, RetryPolicy]:
    table = catalogue_data().get("retry", {})
    default = _parse("default", table.get("default", {}), None)
    policies = {"default": default}
    for category, raw in table.items():
        if category != "default":
            policies[category] = _parse(category, raw, default)
    return policies


def retry_policy(category: str) -> RetryPolicy:
    """The policy for ``category`` (``[retry.default]`` for categories without their own)."""
    policies = _policies()
    return policies.get(category, policies["default"])


# Retry-After style hints as Packer and the SDKs print them: "Retry-After: 30", "retry after 30s",
# "Please retry after 60 seconds", "Try again in 27m9.53s" (packer init), "[rate reset in 12m04s]"
# (GitHub via packer init), "retry in 2 minutes".
_HINT = re.compile(
    r"(?:retry[- ]after:?|retry in|try again in|rate reset in|reset in)\s*"
    r"(?P<value>(?:\d+(?:\.\d+)?\s*(?:h|hours?|m(?!s)|min(?:ute)?s?|s|sec(?:ond)?s?|ms)?\s*)+)",
    re.IGNORECASE,
)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|hours?|m(?!s)|min(?:ute)?s?|s|sec(?:ond)?s?|ms)?", re.IGNORECASE)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _seconds(value: str) -> float:
    total = 0.0
    for number, unit in _PART.findall(value):
        u = unit.lower()
        key = "ms" if u == "ms" else (u[0] if u else "s")
        total += float(number) * _UNIT[key]
    return total


def retry_after_hint(output: str) -> float | None:
    """Seconds a server asked us to wait, if the output says so; the largest such hint wins."""
    hints = [_seconds(m.group("value")) for m in _HINT.finditer(output)]
    hints = [h for h in hints if h > 0]
    return max(hints) if hints else None


def retry_delay(category: str, attempt: int, *, output: str = "", u: float = 0.0, scale: float = 1.0) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) of a ``category`` failure.

    Pure: the caller supplies the random draw ``u`` in [0, 1] for the jitter (``random.random()``), and
    may ``scale`` the backoff (e.g. a project's ``backoff_initial`` / 5 s). A Retry-After style hint in
    ``output`` raises the wait to at least the hint, up to the policy's ``max_hint``.
    """
    return retry_policy(category).delay(attempt, u=u, hint=retry_after_hint(output) if output else None,
                                        scale=scale)
