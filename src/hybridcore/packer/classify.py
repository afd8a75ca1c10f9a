"""Failure classification: is a failed Packer run worth retrying, and what should the operator do?

The catalogue of rules lives in ``rules.toml`` beside this module (loaded once through
``importlib.resources``); projects extend or override it from ``hybridcore.toml``
``[[classify.rules]]``. Selection is deliberately pessimistic: when one output holds both hard-stop
evidence (a validation error) and transient evidence (a timeout), the hard stop wins, because
retrying a broken template only burns time and cloud money.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hybridcore.errors import ConfigError

__all__ = [
    "CATEGORIES",
    "OK",
    "Classification",
    "Rule",
    "classify",
    "interrupted",
    "load_rules",
    "normalise",
    "timed_out",
]

CATEGORIES: frozenset[str] = frozenset({
    "ok", "network", "throttling", "capacity", "cloud-transient", "plugin-download", "validation",
    "template-syntax", "missing-plugin", "auth", "permission", "checksum", "not-found", "provisioner",
    "interrupted", "timeout", "unknown",
})

_RULE_KEYS = frozenset({"id", "pattern", "patterns", "category", "retryable", "hint"})
# Every pattern is case-insensitive: Packer, SDKs and plugins disagree on capitalisation.
_FLAGS = re.IGNORECASE

_LOGS_HINT = (
    "read the raw logs in .hybridcore/runs/<command_id>/<target>/packer.log and stdout.log "
    "(re-run with PACKER_LOG=1 for plugin detail); if this failure recurs, teach hybridcore about it "
    "with a [[classify.rules]] entry in hybridcore.toml"
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalogue entry: any of ``patterns`` matching a line means ``category``."""

    id: str
    patterns: tuple[re.Pattern[str], ...]
    category: str
    retryable: bool
    hint: str


@dataclass(frozen=True, slots=True)
class Classification:
    retryable: bool
    category: str
    hint: str
    rule: str  # id of the rule that decided, or a synthetic id such as "exit-0" / "no-match"

    def to_dict(self) -> dict[str, object]:
        return {"retryable": self.retryable, "category": self.category, "hint": self.hint,
                "rule": self.rule}


OK = Classification(retryable=False, category="ok", hint="", rule="exit-0")

_UNKNOWN = Classification(
    retryable=False, category="unknown", rule="no-match",
    hint=f"Packer failed in a way hybridcore does not recognise, so it is not retried: {_LOGS_HINT}.",
)


def interrupted() -> Classification:
    """The run was stopped on purpose (Ctrl-C, SIGTERM): never retried."""
    return Classification(
        retryable=False, category="interrupted", rule="interrupted",
        hint="the run was interrupted (Ctrl-C or SIGTERM); re-run it when ready. Temporary cloud VMs "
             "Packer had not cleaned up may need manual deletion.",
    )


def timed_out(seconds: float) -> Classification:
    """hybridcore's own wall-clock limit killed Packer: transient until proven otherwise."""
    return Classification(
        retryable=True, category="timeout", rule="wall-clock-timeout",
        hint=f"Packer did not finish within {seconds:g}s and was stopped; retry with --retries N or "
             "raise the timeout; if it always hangs, check the last step in packer.log "
             "(PACKER_LOG=1) and boot_command / ssh_timeout.",
    )


# Exit statuses that mean "killed by SIGINT/SIGTERM": shell convention (128+n) and Popen's (-n).
_SIGNAL_EXITS = frozenset({130, 143, -2, -15})

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Go's log prefix "2020/05/14 10:54:12 " marks PACKER_LOG debug lines (possibly behind a CI
# timestamp), except the lines that echo the UI, which carry the real error.
_DEBUG_LINE = re.compile(
    r"^.{0,48}?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?!ui(?: error)?:|machine readable:)"
)


def normalise(output: str) -> str:
    """Text as a human would read it: no colours, machine-readable escapes decoded."""
    text = _ANSI.sub("", output)
    if "%!(PACKER_COMMA)" in text:
        text = text.replace("%!(PACKER_COMMA)", ",")
    # Machine-readable data encodes newlines as the two characters "\n"; decoding them everywhere is
    # harmless for matching (a Windows path like C:\new only splits a line).
    return text.replace("\\n", "\n")


# ---------------------------------------------------------------------------------------- loading


def _compile(rule_id: str, source: str) -> re.Pattern[str]:
    try:
        return re.compile(source, _FLAGS)
    except re.error as exc:
        raise ConfigError(
            f"classify rule {rule_id!r}: invalid regular expression {source!r}: {exc}",
            hint="fix the pattern in hybridcore.toml [[classify.rules]] (Python re syntax; "
                 "TOML literal strings '...' avoid double escaping)",
        ) from exc


def _rule_error(where: str, message: str) -> ConfigError:
    return ConfigError(
        f"{where}: {message}",
        hint="each [[classify.rules]] needs id, pattern (or patterns), category, retryable and hint; "
             f"category is one of: {', '.join(sorted(CATEGORIES - {'ok'}))}",
    )


def _parse_rule(raw: Mapping[str, Any], where: str) -> Rule:
    """Validate one rule table (user or built-in) into a compiled ``Rule``."""
    if not isinstance(raw, Mapping):
        raise _rule_error(where, f"expected a table, got {type(raw).__name__}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _rule_error(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise _rule_error(where, "missing or empty 'id' (a string)")
    where = f"{where} ({rule_id!r})"
    if "pattern" in raw and "patterns" in raw:
        raise _rule_error(where, "give either 'pattern' or 'patterns', not both")
    sources: object = [raw["pattern"]] if "pattern" in raw else raw.get("patterns")
    if (not isinstance(sources, list | tuple) or not sources
            or not all(isinstance(s, str) and s for s in sources)):
        raise _rule_error(where, "missing 'pattern' (a string) or 'patterns' (a non-empty list of strings)")
    category = raw.get("category")
    if not isinstance(category, str) or category not in CATEGORIES - {"ok"}:
        raise _rule_error(where, f"'category' must be one of the known categories, got {category!r}")
    retryable = raw.get("retryable")
    if not isinstance(retryable, bool):
        raise _rule_error(where, f"'retryable' must be true or false, got {retryable!r}")
    hint = raw.get("hint")
    if not isinstance(hint, str) or not hint.strip():
        raise _rule_error(where, "missing or empty 'hint' (tell the operator what to do)")
    patterns = tuple(_compile(rule_id, s) for s in sources)
    return Rule(id=rule_id, patterns=patterns, category=category, retryable=retryable, hint=hint)


@functools.cache
def _builtin_rules() -> tuple[Rule, ...]:
    text = resources.files("hybridcore.packer").joinpath("rules.toml").read_text(encoding="utf-8")
    tables = tomllib.loads(text).get("rule", [])
    return tuple(_parse_rule(t, f"built-in rules.toml [[rule]] #{i + 1}") for i, t in enumerate(tables))


def load_rules(extra: Sequence[Mapping[str, Any]] = ()) -> tuple[Rule, ...]:
    """Built-in catalogue plus the project's ``[[classify.rules]]``.

    A user rule whose id equals a built-in one replaces it in place (same priority); new user rules
    are put first so they win over built-ins of the same retryability.
    """
    builtin = _builtin_rules()
    if not extra:
        return builtin
    user: dict[str, Rule] = {}
    for i, raw in enumerate(extra):
        rule = _parse_rule(raw, f"hybridcore.toml [[classify.rules]] #{i + 1}")
        if rule.id in user:
            raise _rule_error(f"hybridcore.toml [[classify.rules]] #{i + 1}", f"duplicate id {rule.id!r}")
        user[rule.id] = rule
    builtin_ids = {r.id for r in builtin}
    new = tuple(r for r in user.values() if r.id not in builtin_ids)
    return new + tuple(user.get(r.id, r) for r in builtin)


# ----------------------------------------------------------------------------------- classifying


_REGEX_META = frozenset(".^$*+?{}[]|()")


def _skip_class(source: str, i: int) -> int:
    """Index just past the character class that starts at ``source[i] == '['``."""
    j = i + 1
    if source[j:j + 1] == "^":
        j += 1
    if source[j:j + 1] == "]":
        j += 1
    while j < len(source) and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    return j + 1


def _literal_runs(source: str) -> list[str] | None:
    """Literal runs every match of ``source`` must contain; ``None`` if a top-level ``|`` exists."""
    runs: list[str] = []
    cur: list[str] = []
    depth = 0
    i = 0

    def flush() -> None:
        if cur:
            runs.append("".join(cur))
            cur.clear()

    while i < len(source):
        c = source[i]
        if c == "\\":
            nxt = source[i + 1:i + 2]
            i += 2
            if nxt and not nxt.isalnum() and depth == 0:
                cur.append(nxt)  # escaped punctuation such as \. or \( is a plain character
            else:
                flush()  # \d, \b, \s ...: not a literal
            continue
        if c == "[":
            flush()
            i = _skip_class(source, i)
            continue
        if c in "*?{":
            if cur:
                cur.pop()  # the preceding character is optional
            flush()
            i = source.find("}", i) + 1 if c == "{" else i + 1
            if i == 0:
                return None
            continue
        if c == "|" and depth == 0:
            return None
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c in _REGEX_META or depth > 0:
            flush()  # group contents may be optional or alternatives: never required
        else:
            cur.append(c)
        i += 1
    flush()
    return runs


@functools.lru_cache(maxsize=1024)
def _prefilter(pattern: re.Pattern[str]) -> str | None:
    """A lower-case ASCII substring every match contains, to find candidate lines with ``str.find``.

    Python's ``re`` loses its fast literal search under IGNORECASE (~0.1 s per pattern per 4 MiB);
    ``str.find`` on the lower-cased text is two orders of magnitude faster.
    """
    runs = _literal_runs(pattern.pattern)
    if not runs:
        return None
    best = max(runs, key=len)
    return best.lower() if len(best) >= 3 and best.isascii() else None


def _candidate_lines(text: str, lowered: str, pattern: re.Pattern[str]) -> Iterator[str]:
    key = _prefilter(pattern) if len(lowered) == len(text) else None
    if key is None:  # no usable literal: scan everything
        for match in pattern.finditer(text):
            yield _line_at(text, match.start())
        return
    pos = lowered.find(key)
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if pattern.search(line):
            yield line
        pos = lowered.find(key, end)


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:] if end < 0 else text[start:end]


def _has_evidence(rule: Rule, text: str, lowered: str) -> bool:
    """Does ``rule`` match a line, counting debug-log lines only for transient rules?

    PACKER_LOG debug lines mention plenty of harmless things ("no such file or directory" while
    probing plugin paths); letting them supply hard-stop evidence would stop legitimate retries.
    They do carry useful transient evidence (an SDK logging RequestLimitExceeded), so retryable rules
    still see them.
    """
    for pattern in rule.patterns:
        for line in _candidate_lines(text, lowered, pattern):
            if rule.retryable or not _DEBUG_LINE.match(line):
                return True
    return False


def classify(output: str, exit_code: int, *, rules: Sequence[Rule] | None = None) -> Classification:
    """Classify a finished Packer run from its combined stdout+stderr and exit code."""
    if exit_code == 0:
        return OK
    if exit_code in _SIGNAL_EXITS:
        return interrupted()
    catalogue = _builtin_rules() if rules is None else rules
    text = normalise(output)
    lowered = text.lower()
    first_transient: Rule | None = None
    for rule in catalogue:
        if rule.retryable and first_transient is not None:
            continue  # a transient winner is already known; only a hard stop could change the answer
        if _has_evidence(rule, text, lowered):
            if not rule.retryable:
                return _from_rule(rule)
            first_transient = rule
    return _UNKNOWN if first_transient is None else _from_rule(first_transient)


def _from_rule(rule: Rule) -> Classification:
    return Classification(retryable=rule.retryable, category=rule.category, hint=rule.hint, rule=rule.id)
