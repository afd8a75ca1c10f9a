"""Failure classification accuracy on the labelled corpus: training part vs held-out part.

The held-out part (tests/data/classify/heldout.toml) was written and committed before the rule
catalogue was rewritten, and rule writing never looks at it; its figures estimate how the catalogue
does on failures it has never seen. Accuracy is on the retry decision (retryable or not, what the
runner acts on); category agreement is printed beside it.

Targets (held-out): accuracy >= 97%, and no hard failure called retryable (hard->retryable = 0).

Usage (no make needed):  .venv/bin/python bench/classify.py [--part train|heldout|all] [--misses]
Exit status 1 when a held-out target is missed, so CI can gate on it.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridcore.packer.classify import classify

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "classify"
TARGET_ACCURACY = 0.97


@dataclass
class Score:
    total: int = 0
    right: int = 0
    category: int = 0
    hard_as_retryable: int = 0
    retryable_as_hard: int = 0

    def add(self, case: dict[str, Any], retryable: bool, category: str) -> bool:
        self.total += 1
        ok = retryable == case["retryable"]
        self.right += ok
        self.category += category == case["category"]
        self.hard_as_retryable += (not case["retryable"]) and retryable
        self.retryable_as_hard += case["retryable"] and not retryable
        return ok

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0


def load(part: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = tomllib.loads((DATA / f"{part}.toml").read_text(encoding="utf-8"))["case"]
    return cases


def evaluate(part: str, show_misses: bool) -> Score:
    cases = load(part)
    overall = Score()
    per_provider: dict[str, Score] = defaultdict(Score)
    misses: list[str] = []
    start = time.perf_counter()
    for case in cases:
        got = classify(case["output"], case["exit_code"], log_tail=case.get("log_tail"))
        ok = overall.add(case, got.retryable, got.category)
        per_provider[case["provider"]].add(case, got.retryable, got.category)
        if not ok or (show_misses and got.category != case["category"]):
            mark = "RETRY-MISS" if not ok else "category"
            misses.append(f"  {mark:10} {case['id']}: expected {case['category']}/{case['retryable']}, "
                          f"got {got.category}/{got.retryable} via {got.rule}")
    elapsed = time.perf_counter() - start
    print(f"{part}: {overall.right}/{overall.total} retry decisions right = {overall.accuracy:.1%} "
          f"(category {overall.category / overall.total:.1%}); hard->retryable {overall.hard_as_retryable}, "
          f"retryable->hard {overall.retryable_as_hard}; {elapsed * 1000 / len(cases):.2f} ms/case")
    for provider in sorted(per_provider):
        s = per_provider[provider]
        print(f"  {provider:13} {s.right:3}/{s.total:<3} {s.accuracy:6.1%}   hard->retryable {s.hard_as_retryable}"
              f"   retryable->hard {s.retryable_as_hard}")
    if misses and show_misses:
        print("\n".join(misses))
    return overall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("train", "heldout", "all"), default="all")
    parser.add_argument("--misses", action="store_true", help="list every case decided wrongly")
    args = parser.parse_args()
    parts = ("train", "heldout") if args.part == "all" else (args.part,)
    scores = {part: evaluate(part, args.misses) for part in parts}
    total = sum(s.total for s in scores.values())
    print(f"corpus: {total} labelled cases ({', '.join(f'{p} {s.total}' for p, s in scores.items())})")
    held = scores.get("heldout")
    if held is not None and (held.accuracy < TARGET_ACCURACY or held.hard_as_retryable):
        print(f"held-out target missed: need >= {TARGET_ACCURACY:.0%} and 0 hard->retryable")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
