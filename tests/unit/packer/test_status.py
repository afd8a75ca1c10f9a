"""The one exit-code table and the one rule from a status to it."""

from __future__ import annotations

import pytest

from hybridcore.errors import DriftDetected, ExitCode, HybridcoreError
from hybridcore.packer.status import Status, exit_code_for, worst


def test_table_is_design_md() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "UNFORMATTED": 3, "DRIFT": 4, "RETRYABLE": 75, "INTERRUPTED": 130}
    assert HybridcoreError("x").exit_code == 2 and DriftDetected("x", diff={}).exit_code == 4


@pytest.mark.parametrize(("status", "retryable", "code"), [
    (Status.OK, False, 0),
    (Status.FAILED, False, 1),
    (Status.FAILED, True, 75),
    (Status.TIMEOUT, True, 75),
    (Status.TIMEOUT, False, 1),
    (Status.UNFORMATTED, False, 3),
    (Status.REFUSED, False, 4),
    (Status.INTERRUPTED, False, 130),
    (Status.INTERRUPTED, True, 130),   # an interruption is never "retryable", whatever the last attempt said
])
def test_exit_code_for(status: Status, retryable: bool, code: int) -> None:
    assert exit_code_for(status, retryable) == code


@pytest.mark.parametrize(("codes", "expected"), [
    ([], 0),
    ([0, 0], 0),
    ([0, 3], 3),
    ([3, 75], 75),
    ([75, 1], 1),        # a hard stop needs a person: it outranks a failure a retry might fix
    ([1, 130, 75], 130),
])
def test_worst(codes: list[int], expected: int) -> None:
    assert worst(codes) == expected
