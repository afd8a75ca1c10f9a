"""Failure classification: is a failed Packer run worth retrying, and what should the operator do?

The catalogue of rules lives in ``rules.toml`` beside this module (loaded once through
``pkgutil.get_data``); projects extend or override it from ``hybridcore.toml``
``[[classify.rules]]``. How evidence is weighed is in ``classify_rules`` (specific beats broad, hard stop
beats transient); how long a retry waits is in ``retry_policy``. The method and the sources behind the
catalogue are in specs/hybridcore-packer/classification.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hybridcore.packer.classify_rules import (
    CATEGORIES,
    TRANSIENT_CATEGORIES,
    Rule,
    Verdict,
    builtin_rules,
    load_rules,
    normalise,
    weigh,
)
from hybridcore.packer.retry_policy import RetryPolicy, retry_after_hint, retry_delay, retry_policy

__all__ = [
    "CATEGORIES",
    "OK",
    "TRANSIENT_CATEGORIES",
    "Classification",
    "Explanation",
    "RetryPolicy",
    "Rule",
    "classify",
    "classify_log",
    "explain",
    "interrupted",
    "load_rules",
    "normalise",
    "retry_after_hint",
    "retry_delay",
    "retry_policy",
    "timed_out",
]

_LOGS_HINT = (
    "read Packer's own error lines (shown with the result; errors[] in --json), all it printed with "
    "'hybridcore-packer runs logs RUN_ID' and its debug log, packer.log in the run folder (always kept); "
    "if this failure recurs, teach hybridcore about it with a [[classify.rules]] entry in hybridcore.toml"
)


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


def cancelled() -> Classification:
    """``--fail-fast`` stopped this target because another one failed: that failure is the cause."""
    return Classification(
        retryable=False, category="cancelled", rule="fail-fast",
        hint="--fail-fast stopped this target after another target failed; fix that failure and re-run.",
    )


def timed_out(seconds: float) -> Classification:
    """hybridcore's own wall-clock limit killed Packer: transient until proven otherwise."""
    return Classification(
        retryable=True, category="timeout", rule="wall-clock-timeout",
        hint=f"Packer did not finish within {seconds:g}s and was stopped; retry with --retries N or "
             "raise the timeout; if it always hangs, check the last step in the run's "
             "packer.log (the debug log, always kept) and boot_command / ssh_timeout.",
    )


# Exit statuses that mean "killed by SIGINT/SIGTERM": shell convention (128+n) and Popen's (-n).
_SIGNAL_EXITS = frozenset({130, 143, -2, -15})


def _from_rule(rule: Rule) -> Classification:
    return Classification(retryable=rule.retryable, category=rule.category, hint=rule.hint, rule=rule.id)


def _from_verdict(verdict: Verdict) -> Classification:
    return _UNKNOWN if verdict.rule is None else _from_rule(verdict.rule)


def classify(output: str, exit_code: int, *, rules: Sequence[Rule] | None = None,
             log_tail: str | None = None) -> Classification:
    """Classify a finished Packer run from its combined stdout+stderr and exit code.

    ``log_tail``: the (redacted) tail of the run's packer.log. Packer prints some causes only there (an
    SSH handshake that fails on algorithms ends as "Timeout waiting for SSH." on stdout), so a hard
    cause in the log outweighs a transient symptom on stdout, and the log answers when stdout has no
    cause at all.
    """
    if exit_code == 0:
        return OK
    if exit_code in _SIGNAL_EXITS:
        return interrupted()
    catalogue = builtin_rules() if rules is None else rules
    return _from_verdict(weigh(catalogue, output, log_tail))


def classify_log(log_tail: str, *, rules: Sequence[Rule] | None = None) -> Classification:
    """Classify from the tail of a (redacted) packer.log alone: the fallback when stdout/stderr say nothing.

    In a log every line is debug chatter, so only the lines that echo the UI and the rules marked
    ``debug = true`` count as evidence; ``unknown`` when even the log names no cause.
    """
    catalogue = builtin_rules() if rules is None else rules
    return _from_verdict(weigh(catalogue, "", log_tail))


# ------------------------------------------------------------------------------------- explaining


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a run was classified the way it was, for ``hybridcore-packer explain`` to print."""

    rule: str
    category: str
    retryable: bool
    hint: str
    evidence: tuple[str, ...]  # the output lines that decided, as printed (already redacted upstream)
    outweighed: tuple[str, ...]  # "rule-id: line" for evidence that matched but lost
    source: str  # where the deciding rule's vocabulary comes from (provider doc, SDK, issue thread)
    retry: str  # what a retry would do, in one sentence
    next_delay: float | None  # seconds before the first retry (no jitter), None when not retried

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "category": self.category, "retryable": self.retryable,
                "hint": self.hint, "evidence": list(self.evidence), "outweighed": list(self.outweighed),
                "source": self.source, "retry": self.retry, "next_delay": self.next_delay}


_MAX_EVIDENCE = 5
_MAX_LINE = 400

_SYNTHETIC = {
    "exit-0": "Packer exited 0.",
    "interrupted": "the run was stopped on purpose (Ctrl-C, SIGTERM or --fail-fast).",
    "wall-clock-timeout": "hybridcore's own time limit stopped Packer.",
    "no-match": "no rule matched the output.",
}


# Packer repeats an error as "==> b: msg", "Build 'b' errored after 3s: msg" and "--> b: msg".
_UI_PREFIX = re.compile(r"^\s*(?:(?:==>|-->) [^:]+: |Build '[^']+' errored(?: after [^:]+)?: |[\w.-]+: )")


def _distinct(lines: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept: list[str] = []
    for line in lines:
        key = _UI_PREFIX.sub("", line).strip()
        if key not in seen:
            seen.add(key)
            kept.append(_clip(line))
    return tuple(kept)


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _MAX_LINE else line[:_MAX_LINE - 1] + "…"


def _retry_sentence(classification: Classification, output: str, attempt: int) -> tuple[str, float | None]:
    if classification.category == "ok":
        return "nothing to retry: the run succeeded.", None
    if not classification.retryable:
        why = {"interrupted": "the run was stopped on purpose",
               "unknown": "hybridcore does not know this failure, and retrying unknown failures hides them"}
        reason = why.get(classification.category, "the same inputs would fail the same way")
        return f"not retried: {reason}; fix the cause first (see hint).", None
    policy = retry_policy(classification.category)
    hint = retry_after_hint(output) if output else None
    delay = policy.delay(attempt, hint=hint)
    if policy.wait_for_holder:
        return (f"retried: waits for the lock holder, polling every {delay:g}s until the lock is free or "
                "--lock-timeout expires, then runs the build again.", delay)
    if hint and delay > policy.delay(attempt):  # the server's wait is longer than our backoff
        then = f", honouring the {hint:g}s the server asked for (at most {policy.max_hint:g}s)"
    else:
        then = f"; each later attempt waits longer, up to {policy.max:g}s ({classification.category} policy)"
    return (f"retried (with --retries N): waits {delay:g}s (+ up to {policy.jitter:g}s jitter) and runs "
            f"the whole build again{then}.", delay)


def explain(classification: Classification, output: str, *, rules: Sequence[Rule] | None = None,
            log_tail: str | None = None, attempt: int = 1) -> Explanation:
    """Explain ``classification`` of ``output``: the deciding rule, its evidence lines, the hint, the
    evidence it outweighed, and what a retry would do (the wait after failed attempt ``attempt``)."""
    catalogue = builtin_rules() if rules is None else rules
    retry, delay = _retry_sentence(classification, output, attempt)
    by_id = {r.id: r for r in catalogue}
    rule = by_id.get(classification.rule)
    evidence: tuple[str, ...] = ()
    outweighed: tuple[str, ...] = ()
    source = ""
    if rule is not None:
        source = rule.source
        verdict = weigh(catalogue, output, log_tail, evidence_lines=_MAX_EVIDENCE, full=True)
        if verdict.rule is not None and verdict.rule.id == rule.id:
            evidence = _distinct(verdict.lines)
            outweighed = tuple(f"{e.rule.id}: {_clip(e.lines[0])}" for e in verdict.outweighed if e.lines)
        else:  # classified with other rules or text: show this rule's own evidence, if any
            single = weigh((rule,), output, log_tail, evidence_lines=_MAX_EVIDENCE, full=True)
            evidence = _distinct(single.lines)
    elif classification.rule in _SYNTHETIC:
        source = _SYNTHETIC[classification.rule]
    return Explanation(rule=classification.rule, category=classification.category,
                       retryable=classification.retryable, hint=classification.hint, evidence=evidence,
                       outweighed=outweighed, source=source, retry=retry, next_delay=delay)
