"""The rule engine behind ``classify``: parsing the catalogue and weighing the evidence it finds.

A rule names a category, whether that category is worth retrying, and the regular expressions that are
evidence for it. Evidence is weighed in four tiers, first non-empty tier wins:

1. strong hard-stop evidence (a validation error, a disabled key, a 403 that names a permission);
2. strong transient evidence (a throttling code, a capacity stock-out, a lock held by another task);
3. weak hard-stop evidence (a bare ``status code: 400``: a client error, but the reason decides);
4. weak transient evidence (a bare 5xx, "A general system error occurred": a symptom, not a cause).

So a broad pattern never decides retryability against a specific one, and hard-stop evidence beats
transient evidence of the same strength. Two refinements keep that honest:

- ``unless``: a line that also matches one of these is not evidence for the rule (an AWS
  ``InvalidAMIID.NotFound`` while *tagging* the AMI Packer just created is eventual consistency, not a
  missing source AMI);
- ``outranks``: when this rule has evidence anywhere, the named rules' evidence is void (a provisioner
  cancelled by its own timeout exits non-zero because of the timeout).

Lines of Packer's debug log (``PACKER_LOG=1``) are chatty: they count as evidence only for transient rules
(in stdout/stderr), or for rules marked ``debug = true`` whose pattern means the same thing wherever it is
printed (``ssh: no common algorithm``, ``Could not access KVM kernel module``). In a packer.log tail,
where every line is a debug line, only rules marked ``debug = true`` and the UI echo lines count.
"""

from __future__ import annotations

import functools
import pkgutil
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridcore.errors import ConfigError
from hybridcore.packer.classify_scan import LazyPattern, Regex, candidate_lines

__all__ = [
    "CATEGORIES",
    "TRANSIENT_CATEGORIES",
    "Evidence",
    "Rule",
    "Verdict",
    "builtin_rules",
    "catalogue_data",
    "load_rules",
    "normalise",
    "weigh",
]

CATEGORIES: frozenset[str] = frozenset({
    "ok", "network", "throttling", "capacity", "cloud-transient", "consistency", "busy", "plugin-download",
    "validation", "template-syntax", "missing-plugin", "auth", "permission", "checksum", "not-found",
    "provisioner", "interrupted", "cancelled", "timeout", "locked", "state-unavailable", "unknown",
})
# Categories whose failures are transient by nature; "capacity" is both (a stock-out vs a quota).
TRANSIENT_CATEGORIES: frozenset[str] = frozenset({
    "network", "throttling", "capacity", "cloud-transient", "consistency", "busy", "plugin-download",
    "timeout", "locked", "state-unavailable",
})

_RULE_KEYS = frozenset({"id", "pattern", "patterns", "category", "retryable", "hint", "source", "weak",
                        "unless", "outranks", "debug"})
# Every pattern is case-insensitive: Packer, SDKs and plugins disagree on capitalisation.
_FLAGS = re.IGNORECASE
_DEFINE = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Go's log prefix "2020/05/14 10:54:12 " marks PACKER_LOG debug lines (possibly behind a CI timestamp),
# except the lines that echo the UI, which carry the real error.
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


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalogue entry: any of ``patterns`` matching a line is evidence for ``category``."""

    id: str
    patterns: tuple[Regex, ...]
    category: str
    retryable: bool
    hint: str
    source: str = ""
    weak: bool = False
    unless: tuple[Regex, ...] = ()
    outranks: tuple[str, ...] = ()
    debug: bool = False

    @property
    def tier(self) -> int:
        """0 strong hard, 1 strong transient, 2 weak hard, 3 weak transient: lower wins."""
        return (2 if self.weak else 0) + (1 if self.retryable else 0)


@dataclass(frozen=True, slots=True)
class Evidence:
    rule: Rule
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The deciding rule (``None``: no evidence), its evidence lines, and the evidence it outweighed."""

    rule: Rule | None
    lines: tuple[str, ...] = ()
    outweighed: tuple[Evidence, ...] = field(default=())


# ---------------------------------------------------------------------------------------- loading


def _rule_error(where: str, message: str) -> ConfigError:
    return ConfigError(
        f"{where}: {message}",
        hint="each [[classify.rules]] needs id, pattern (or patterns), category, retryable and hint "
             "(optional: source, weak, unless, outranks, debug); category is one of: "
             f"{', '.join(sorted(CATEGORIES - {'ok'}))}",
    )


def _compile(rule_id: str, source: str, defines: Mapping[str, str], *, lazy: bool = False) -> Regex:
    """The rule's pattern with its ``{{name}}`` fragments expanded; ``lazy`` (the built-in catalogue,
    which its tests compile in full): compiled on first use, else now, so a bad user rule is refused
    at load time."""
    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in defines:
            raise _rule_error(f"classify rule {rule_id!r}", f"unknown {{{{{name}}}}} in pattern {source!r}")
        return defines[name]

    expanded = _DEFINE.sub(expand, source) if "{{" in source else source
    if lazy:
        return LazyPattern(expanded, _FLAGS)
    try:
        return re.compile(expanded, _FLAGS)
    except re.error as exc:
        raise ConfigError(
            f"classify rule {rule_id!r}: invalid regular expression {source!r}: {exc}",
            hint="fix the pattern in hybridcore.toml [[classify.rules]] (Python re syntax; "
                 "TOML literal strings '...' avoid double escaping)",
        ) from exc


def _strings(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) and s for s in value):
        raise _rule_error(where, f"{key!r} must be a list of non-empty strings")
    return list(value)


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise _rule_error(where, f"{key!r} must be true or false, got {value!r}")
    return value


def _parse_rule(raw: Mapping[str, Any], where: str, defines: Mapping[str, str], *, lazy: bool = False) -> Rule:
    """Validate one rule table (user or built-in) into a ``Rule`` (``lazy``: see ``_compile``)."""
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
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise _rule_error(where, f"'source' must be a string, got {source!r}")
    return Rule(
        id=rule_id, category=category, retryable=retryable, hint=hint, source=source,
        patterns=tuple(_compile(rule_id, s, defines, lazy=lazy) for s in sources),
        unless=tuple(_compile(rule_id, s, defines, lazy=lazy) for s in _strings(raw, "unless", where)),
        outranks=tuple(_strings(raw, "outranks", where)),
        weak=_flag(raw, "weak", where), debug=_flag(raw, "debug", where),
    )


@functools.cache
def catalogue_data() -> Mapping[str, Any]:
    """The parsed built-in ``rules.toml`` (rules, ``[define]`` fragments, ``[retry.*]`` policies)."""
    # pkgutil rather than importlib.resources: the same package data (zipped or not) without importing
    # zipfile and the resource readers (~5 ms, measured, in the thread that overlaps Packer).
    data = pkgutil.get_data("hybridcore.packer", "rules.toml")
    if data is None:  # a loader that cannot read package data: the catalogue is part of the package
        raise FileNotFoundError("hybridcore.packer/rules.toml")
    return tomllib.loads(data.decode("utf-8"))


def _defines() -> Mapping[str, str]:
    raw = catalogue_data().get("define", {})
    return {str(k): str(v) for k, v in raw.items()}


@functools.cache
def builtin_rules() -> tuple[Rule, ...]:
    defines = _defines()
    tables = catalogue_data().get("rule", [])
    return tuple(_parse_rule(t, f"built-in rules.toml [[rule]] #{i + 1}", defines, lazy=True)
                 for i, t in enumerate(tables))


def load_rules(extra: Sequence[Mapping[str, Any]] = ()) -> tuple[Rule, ...]:
    """Built-in catalogue plus the project's ``[[classify.rules]]``.

    A user rule whose id equals a built-in one replaces it in place (same priority); new user rules
    are put first so they win over built-ins of the same tier. User patterns may use the built-in
    ``{{name}}`` fragments from ``[define]``.
    """
    builtin = builtin_rules()
    if not extra:
        return builtin
    defines = _defines()
    user: dict[str, Rule] = {}
    for i, raw in enumerate(extra):
        rule = _parse_rule(raw, f"hybridcore.toml [[classify.rules]] #{i + 1}", defines)
        if rule.id in user:
            raise _rule_error(f"hybridcore.toml [[classify.rules]] #{i + 1}", f"duplicate id {rule.id!r}")
        user[rule.id] = rule
    builtin_ids = {r.id for r in builtin}
    new = tuple(r for r in user.values() if r.id not in builtin_ids)
    return new + tuple(user.get(r.id, r) for r in builtin)


# ------------------------------------------------------------------------------------- weighing


@dataclass(frozen=True, slots=True)
class _Segment:
    text: str
    lowered: str
    log: bool  # a packer.log tail: every line is debug chatter unless it echoes the UI


def _segments(output: str, log_tail: str | None) -> tuple[_Segment, ...]:
    parts = [(normalise(output), False)]
    if log_tail:
        parts.append((normalise(log_tail), True))
    return tuple(_Segment(text, text.lower(), log) for text, log in parts)


def _counts(rule: Rule, line: str, log: bool) -> bool:
    if any(u.search(line) for u in rule.unless):
        return False
    if rule.debug or not _DEBUG_LINE.match(line):
        return True
    return rule.retryable and not log


def _evidence(rule: Rule, segments: Sequence[_Segment], limit: int) -> tuple[str, ...]:
    """Up to ``limit`` distinct lines that are evidence for ``rule`` (0 = no limit)."""
    found: list[str] = []
    for segment in segments:
        for pattern in rule.patterns:
            for line in candidate_lines(segment.text, segment.lowered, pattern):
                if line not in found and _counts(rule, line, segment.log):
                    found.append(line)
                    if limit and len(found) >= limit:
                        return tuple(found)
    return tuple(found)


def weigh(rules: Sequence[Rule], output: str, log_tail: str | None = None, *,
          evidence_lines: int = 1, full: bool = False) -> Verdict:
    """Find the deciding rule for ``output`` (plus an optional packer.log tail).

    With ``full`` every rule is scanned so the verdict also lists the evidence it outweighed (for
    ``explain``); otherwise scanning stops as soon as the winner is certain (for ``classify``).
    """
    segments = _segments(output, log_tail)
    found: dict[str, tuple[str, ...]] = {}

    def lines_for(rule: Rule) -> tuple[str, ...]:
        if rule.id not in found:
            found[rule.id] = _evidence(rule, segments, 0 if full else evidence_lines)
        return found[rule.id]

    void: set[str] = set()
    for rule in rules:
        if rule.outranks and lines_for(rule):
            void.update(rule.outranks)
    winner: Rule | None = None
    for tier in range(4):
        for rule in rules:
            if rule.tier == tier and rule.id not in void and lines_for(rule):
                winner = rule
                break
        if winner is not None:
            break
    if winner is None:
        return Verdict(rule=None)
    outweighed: tuple[Evidence, ...] = ()
    if full:
        outweighed = tuple(Evidence(rule=r, lines=lines_for(r)[:evidence_lines]) for r in rules
                           if r is not winner and lines_for(r))
    return Verdict(rule=winner, lines=lines_for(winner)[:evidence_lines] if evidence_lines else lines_for(winner),
                   outweighed=outweighed)
