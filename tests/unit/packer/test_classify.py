"""Failure classification: corpus accuracy, ordering semantics, user rules, robustness, speed."""

from __future__ import annotations

import random
import string
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridcore.errors import ConfigError
from hybridcore.packer.classify import (
    CATEGORIES,
    OK,
    Classification,
    Rule,
    classify,
    interrupted,
    load_rules,
    normalise,
    timed_out,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "classify_corpus.toml"
TRANSIENT = {"network", "throttling", "capacity", "cloud-transient", "plugin-download", "timeout"}
HARD_STOP = CATEGORIES - TRANSIENT


def _corpus() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
    return cases


def test_corpus_is_large_and_well_formed() -> None:
    cases = _corpus()
    assert len(cases) >= 70
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert case["category"] in CATEGORIES, case["id"]
        assert case["source"], case["id"]
    assert sum("packer 1.6.6 run here" in c["source"] for c in cases) >= 30
    assert any("%!(PACKER_COMMA)" in c["output"] for c in cases)


def test_corpus_accuracy() -> None:
    cases = _corpus()
    misses = []
    for case in cases:
        got = classify(case["output"], case["exit_code"])
        if (got.category, got.retryable) != (case["category"], case["retryable"]):
            misses.append(f"{case['id']}: expected {case['category']}/{case['retryable']}, "
                          f"got {got.category}/{got.retryable} via {got.rule}")
    accuracy = 1 - len(misses) / len(cases)
    print(f"\nclassify corpus accuracy: {accuracy:.1%} ({len(cases) - len(misses)}/{len(cases)})")
    assert accuracy >= 0.95, "\n".join(misses)


def test_no_hard_stop_case_is_called_retryable() -> None:
    wrong = [c["id"] for c in _corpus()
             if not c["retryable"] and classify(c["output"], c["exit_code"]).retryable]
    assert wrong == []


def test_every_builtin_rule_is_exercised_by_the_corpus() -> None:
    fired = {classify(c["output"], c["exit_code"]).rule for c in _corpus()}
    unused = {r.id for r in load_rules()} - fired
    # A couple of rules guard rare cases; most must be backed by a corpus example.
    assert len(unused) <= 3, unused


def test_exit_zero_is_ok_even_with_error_text() -> None:
    result = classify("Build 'x' errored: RequestLimitExceeded: Request limit exceeded.", 0)
    assert result is OK
    assert (result.category, result.retryable, result.rule) == ("ok", False, "exit-0")


@pytest.mark.parametrize("code", [130, -2, 143, -15])
def test_signal_exit_codes_are_interrupted(code: int) -> None:
    result = classify("dial tcp 10.0.0.1:443: connect: connection refused", code)
    assert result.category == "interrupted"
    assert not result.retryable


def test_hard_stop_beats_transient_regardless_of_order_in_output() -> None:
    transient = "Build 'a' errored: Post \"https://vc/sdk\": dial tcp 10.0.0.1:443: i/o timeout\n"
    hard = "Error: Unsupported argument\n\nAn argument named \"colour\" is not expected here.\n"
    for text in (transient + hard, hard + transient):
        result = classify(text, 1)
        assert (result.category, result.retryable) == ("template-syntax", False)
    assert classify(transient, 1).category == "network"


def test_first_matching_transient_rule_wins() -> None:
    # RequestLimitExceeded arrives with "status code: 503": throttling is listed before cloud-transient.
    text = "Error: RequestLimitExceeded: Request limit exceeded.\n\tstatus code: 503, request id: x\n"
    assert classify(text, 1).rule == "throttled"


def test_debug_lines_cannot_supply_hard_stop_evidence() -> None:
    noise = "2024/01/01 10:00:00 [DEBUG] stat /root/.packer.d/plugins: no such file or directory\n"
    assert classify(noise, 1).category == "unknown"
    assert classify(noise.replace("2024/01/01 10:00:00 [DEBUG] ", ""), 1).category == "not-found"
    ui = "2024/01/01 10:00:00 ui error: Build 'a' errored: open x.sh: no such file or directory\n"
    assert classify(ui, 1).category == "not-found"


def test_machine_readable_is_decoded() -> None:
    line = ("1700000000,,ui,error,Build 'a' errored: We currently do not have sufficient m5.large "
            "capacity%!(PACKER_COMMA) try later\\n\\nInsufficientInstanceCapacity\n")
    assert "capacity, try later\n\nInsufficient" in normalise(line)
    assert classify(line, 1).category == "capacity"
    assert normalise("\x1b[1;31mBuild errored\x1b[0m") == "Build errored"


def test_unknown_points_at_raw_logs() -> None:
    result = classify("something nobody has seen before", 1)
    assert (result.category, result.retryable, result.rule) == ("unknown", False, "no-match")
    assert ".hybridcore/runs/<command_id>/<target>/packer.log" in result.hint
    assert "stdout.log" in result.hint


def test_process_layer_helpers() -> None:
    assert (interrupted().category, interrupted().retryable) == ("interrupted", False)
    t = timed_out(90)
    assert (t.category, t.retryable) == ("timeout", True)
    assert "90s" in t.hint
    assert t.to_dict() == {"retryable": True, "category": "timeout", "hint": t.hint, "rule": t.rule}


def test_every_builtin_rule_has_a_concrete_hint() -> None:
    rules = load_rules()
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.category in CATEGORIES
        assert len(rule.hint) > 60, rule.id
        assert rule.retryable == (rule.category not in HARD_STOP) or rule.id == "quota-exceeded"


# ------------------------------------------------------------------------------------ user rules

def _user(**over: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": "corp-proxy", "pattern": r"proxy authentication required",
                            "category": "network", "retryable": True, "hint": "log in to the proxy"}
    rule.update(over)
    return rule


def test_user_rule_with_builtin_id_replaces_it_in_place() -> None:
    builtin = load_rules()
    index = [r.id for r in builtin].index("throttled")
    override = _user(id="throttled", pattern="RequestLimitExceeded", category="throttling",
                     retryable=False, hint="our org: never retry throttling, page the cloud team")
    rules = load_rules([override])
    assert [r.id for r in rules] == [r.id for r in builtin]
    assert rules[index].hint.startswith("our org")
    result = classify("RequestLimitExceeded: Request limit exceeded.", 1, rules=rules)
    assert (result.rule, result.retryable) == ("throttled", False)


def test_new_user_rule_goes_first_and_wins() -> None:
    text = ("Build 'a' errored: Post \"https://vc/sdk\": connection reset by peer "
            "(proxy authentication required)")
    assert classify(text, 1).rule == "network"
    rules = load_rules([_user()])
    assert rules[0].id == "corp-proxy"
    assert classify(text, 1, rules=rules).rule == "corp-proxy"
    # Hard stops still beat a new transient user rule.
    assert classify(text + "\nError: Unsupported argument", 1, rules=rules).category == "template-syntax"


def test_user_rule_accepts_patterns_list() -> None:
    raw = {k: v for k, v in _user(patterns=["alpha", "beta"]).items() if k != "pattern"}
    rules = load_rules([raw])
    assert [p.pattern for p in rules[0].patterns] == ["alpha", "beta"]
    assert classify("BETA went wrong", 1, rules=rules).rule == "corp-proxy"


@pytest.mark.parametrize(("raw", "fragment"), [
    (_user(pattern="(unclosed"), "invalid regular expression"),
    ({k: v for k, v in _user().items() if k != "hint"}, "hint"),
    ({k: v for k, v in _user().items() if k != "pattern"}, "pattern"),
    ({k: v for k, v in _user().items() if k != "id"}, "id"),
    (_user(category="weather"), "category"),
    (_user(retryable="yes"), "retryable"),
    (_user(retriable=True), "unknown key"),
    (_user(patterns=["a"]), "not both"),
    (_user(patterns=[]) | {"pattern": None}, "pattern"),
])
def test_invalid_user_rules_raise_config_error(raw: dict[str, Any], fragment: str) -> None:
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        load_rules([raw])
    assert fragment in str(info.value)
    assert info.value.hint


def test_duplicate_user_ids_raise() -> None:
    with pytest.raises(ConfigError, match="duplicate"):
        load_rules([_user(), _user()])


def test_custom_rules_sequence_is_used_verbatim() -> None:
    only = (Rule(id="x", patterns=(), category="auth", retryable=False, hint="h"),)
    assert classify("RequestLimitExceeded", 1, rules=only).category == "unknown"


# ------------------------------------------------------------------------------ robustness, speed

@settings(max_examples=300, deadline=None)
@given(text=st.text(), code=st.integers(min_value=-255, max_value=255))
def test_classify_never_raises_and_returns_a_known_category(text: str, code: int) -> None:
    result = classify(text, code)
    assert isinstance(result, Classification)
    assert result.category in CATEGORIES
    assert not (result.retryable and result.category in HARD_STOP)
    if code == 0:
        assert result is OK


@settings(max_examples=100, deadline=None)
@given(prefix=st.text(max_size=200), suffix=st.text(max_size=200))
def test_embedded_hard_stop_is_always_found(prefix: str, suffix: str) -> None:
    text = f"{prefix}\nBuild 'a' errored: Checksums did not match for x.iso.\n{suffix}"
    assert classify(text, 1).category == "checksum"


def test_large_output_performance() -> None:
    rng = random.Random(7)
    stems = ["==> qemu.img: Waiting for shutdown", "2024/01/01 10:00:00 packer: [DEBUG] timeout tick",
             "    vsphere-iso.base: error count 0", "1700000000,,ui,say,==> building%!(PACKER_COMMA) ok\\n"]
    lines, size = [], 0
    while size < 4 * 1024 * 1024:
        line = rng.choice(stems) + " " + "".join(rng.choices(string.ascii_letters + " ", k=64))
        lines.append(line)
        size += len(line) + 1
    noise = "\n".join(lines)
    start = time.perf_counter()
    quiet = classify(noise, 1)
    elapsed = time.perf_counter() - start
    print(f"\nclassify 4 MiB of noise: {elapsed:.3f}s")
    assert quiet.category == "unknown"
    assert classify(noise + "\nError: RequestLimitExceeded", 1).category == "throttling"
