"""Retry policy per failure category: delays as pure functions of the attempt, Retry-After honoured."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.packer.classify import TRANSIENT_CATEGORIES
from hybridcore.packer.retry_policy import RetryPolicy, retry_after_hint, retry_delay, retry_policy


def test_throttling_and_capacity_wait_longer_than_a_network_blip() -> None:
    for attempt in (1, 2, 3):
        network = retry_delay("network", attempt)
        assert retry_delay("throttling", attempt) > network
        assert retry_delay("capacity", attempt) > network
        assert retry_delay("busy", attempt) > retry_delay("consistency", attempt)


def test_every_transient_category_has_a_policy_and_unknown_ones_fall_back() -> None:
    default = retry_policy("default")
    for category in TRANSIENT_CATEGORIES:
        assert retry_policy(category).category == category
    assert retry_policy("made-up") is default
    assert retry_delay("made-up", 1) == default.base


def test_delay_grows_exponentially_up_to_the_cap() -> None:
    policy = retry_policy("network")
    delays = [retry_delay("network", n) for n in range(1, 12)]
    assert delays[:3] == [policy.base, policy.base * 2, policy.base * 4]
    assert delays == sorted(delays)
    assert delays[-1] == policy.max
    assert retry_delay("network", 10_000) == policy.max  # no overflow on absurd attempt numbers


def test_jitter_and_scale_are_caller_supplied() -> None:
    policy = retry_policy("throttling")
    assert retry_delay("throttling", 1, u=1.0) == policy.base + policy.jitter
    assert retry_delay("throttling", 1, u=0.5) == policy.base + policy.jitter / 2
    assert retry_delay("throttling", 1, scale=2.0) == policy.base * 2
    with pytest.raises(ValueError, match="uniform"):
        retry_delay("throttling", 1, u=1.5)
    with pytest.raises(ValueError, match="attempt"):
        retry_delay("throttling", 0)


@pytest.mark.parametrize(("text", "seconds"), [
    ("Status=429 Code=\"TooManyRequests\" Message=\"Too many requests. Retry-After: 17\"", 17.0),
    ("RequestLimitExceeded: Request limit exceeded. Please retry after 30s.", 30.0),
    ("please retry after 60 seconds", 60.0),
    ("* Plugin host rate limited the plugin getter. Try again in 27m9.5s.", 27 * 60 + 9.5),
    ("403 API rate limit exceeded for 20.51.14.7. [rate reset in 12m04s]", 12 * 60 + 4.0),
    ("the service is busy, retry in 2 minutes", 120.0),
    ("retry after 1h", 3600.0),
    ("Retry-After: 5\nRetry-After: 40", 40.0),
])
def test_retry_after_hints_are_parsed(text: str, seconds: float) -> None:
    assert retry_after_hint(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "Please retry your request by not specifying an Availability Zone",
                                  "Try again in a few minutes", "Retry-After: 0"])
def test_texts_without_a_usable_hint(text: str) -> None:
    assert retry_after_hint(text) is None


def test_hint_raises_the_wait_but_only_up_to_max_hint() -> None:
    throttling = retry_policy("throttling")
    assert retry_delay("throttling", 1, output="Retry-After: 300") == 300.0
    assert retry_delay("throttling", 1, output="Retry-After: 5") == throttling.base  # never shorter
    assert retry_delay("throttling", 1, output="retry after 99999s") == throttling.max_hint
    plugin = retry_policy("plugin-download")
    assert retry_delay("plugin-download", 1, output="Try again in 46m0s.") == min(46 * 60, plugin.max_hint)


def test_locked_waits_for_the_holder_at_a_steady_poll() -> None:
    locked = retry_policy("locked")
    assert locked.wait_for_holder
    assert {retry_delay("locked", n) for n in (1, 2, 10)} == {locked.base}
    assert not retry_policy("network").wait_for_holder


@given(attempt=st.integers(min_value=1, max_value=200), u=st.floats(min_value=0, max_value=1),
       category=st.sampled_from(sorted(TRANSIENT_CATEGORIES)))
def test_delay_is_bounded(attempt: int, u: float, category: str) -> None:
    policy = retry_policy(category)
    delay = retry_delay(category, attempt, u=u)
    assert policy.base <= delay + 1e-9 or policy.max < policy.base
    assert delay <= policy.max + policy.jitter + 1e-9


def test_policy_is_a_plain_value() -> None:
    policy = RetryPolicy("x", base=2.0, factor=3.0, max=50.0, jitter=0.0, max_hint=10.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [2.0, 6.0, 18.0, 50.0]
    assert policy.delay(1, hint=8.0) == 8.0
    assert policy.delay(1, hint=30.0) == 10.0
