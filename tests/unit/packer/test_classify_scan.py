"""The classifier's line scanning: the built-in catalogue compiles a pattern only when its literal occurs."""

from __future__ import annotations

import re

from hybridcore.packer.classify import classify, load_rules
from hybridcore.packer.classify_rules import builtin_rules
from hybridcore.packer.classify_scan import LazyPattern, candidate_lines, prefilter


def _lazy() -> list[LazyPattern]:
    return [p for r in builtin_rules() for p in r.patterns + r.unless if isinstance(p, LazyPattern)]


def test_every_builtin_pattern_is_lazy_and_compiles() -> None:
    # Loading no longer compiles them, so a broken built-in pattern would only fail when met: compile all here.
    lazy = _lazy()
    assert len(lazy) == sum(len(r.patterns) + len(r.unless) for r in builtin_rules())
    for pattern in lazy:
        compiled = pattern.compiled()
        assert compiled.pattern == pattern.pattern
        assert compiled.flags & re.IGNORECASE


def test_a_failure_compiles_only_the_patterns_whose_literal_it_contains() -> None:
    builtin_rules.cache_clear()  # a fresh, uncompiled catalogue
    try:
        assert classify("all fine", 0).rule == "exit-0"
        assert classify("", 1).rule == "no-match"
        assert not any(p._compiled for p in _lazy())
        result = classify("Error: Unsupported argument; an argument named \"foo\" is not expected here", 1)
        assert result.category == "template-syntax"
        compiled = [p for p in _lazy() if p._compiled]
        assert 0 < len(compiled) < 10
        assert all(prefilter(p) in "error: unsupported argument; an argument named \"foo\" is not expected here"
                   for p in compiled)
    finally:
        builtin_rules.cache_clear()


def test_lazy_pattern_behaves_like_the_compiled_one() -> None:
    lazy, eager = LazyPattern(r"connection (reset|refused)", re.IGNORECASE), re.compile(
        r"connection (reset|refused)", re.IGNORECASE)
    text = "a\nConnection RESET by peer\nb connection refused\nc"
    assert list(candidate_lines(text, text.lower(), lazy)) == list(candidate_lines(text, text.lower(), eager))
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in eager.finditer(text)]
    assert lazy == LazyPattern(r"connection (reset|refused)", re.IGNORECASE)
    assert hash(lazy) == hash(LazyPattern(r"connection (reset|refused)", re.IGNORECASE))
    assert lazy != LazyPattern(r"connection (reset|refused)")
    assert lazy != eager
    assert "connection" in repr(lazy)


def test_user_rules_are_compiled_at_load_time() -> None:
    rule = load_rules([{"id": "mine", "pattern": "disk on fire", "category": "busy",
                        "retryable": True, "hint": "wait"}])[0]
    assert isinstance(rule.patterns[0], re.Pattern)  # a bad user pattern is refused before Packer runs
