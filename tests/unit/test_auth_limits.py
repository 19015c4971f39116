"""The in-memory limits: expiring map, throttles, request rate, brake, the sign-in rules."""

from __future__ import annotations

import pytest

from services.auth.limits import (
    ExpiringMap,
    LoginThrottle,
    RequestRate,
    SignInBrake,
    SignInLimits,
)
from services.errors import RateLimited


def test_entries_vanish_at_their_deadline() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(10)
    items.put("a", 1, deadline=10.0, now=0.0)
    assert items.get("a", 9.9) == 1
    assert items.get("a", 10.0) is None
    assert items.pop("a", 10.0) is None and len(items) == 0


def test_pop_is_one_time() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(10)
    items.put("t", 7, deadline=5.0, now=0.0)
    assert items.pop("t", 1.0) == 7
    assert items.pop("t", 1.0) is None


def test_a_full_map_sweeps_expired_entries_then_drops_the_oldest() -> None:
    items: ExpiringMap[str, int] = ExpiringMap(3)
    items.put("old", 0, deadline=1.0, now=0.0)
    items.put("b", 1, deadline=100.0, now=0.0)
    items.put("c", 2, deadline=100.0, now=0.0)
    items.put("d", 3, deadline=100.0, now=2.0)  # "old" expired: swept, nothing live dropped
    assert [items.get(k, 2.0) for k in "bcd"] == [1, 2, 3]
    items.put("e", 4, deadline=100.0, now=2.0)  # all live: the oldest ("b") goes
    assert items.get("b", 2.0) is None and len(items) == 3
    items.put("c", 5, deadline=100.0, now=2.0)  # replacing refreshes its place
    items.put("f", 6, deadline=100.0, now=2.0)
    assert items.get("c", 2.0) == 5 and items.get("d", 2.0) is None


def test_delays_double_after_the_free_attempts_up_to_the_cap() -> None:
    throttle = LoginThrottle(free_attempts=2, base_delay=1.0, max_delay=5.0, forget_after=60.0)
    waits = []
    for _ in range(6):
        waits.append(throttle.retry_after("k", 0.0))
        throttle.strike("k", 0.0)
    assert waits == [0, 0, 1, 2, 4, 5]
    assert throttle.retry_after("k", 4.0) == 1.0
    assert throttle.retry_after("other", 0.0) == 0


def test_failures_are_forgotten_after_a_quiet_period_or_a_success() -> None:
    throttle = LoginThrottle(free_attempts=1, max_delay=10.0, forget_after=60.0)
    throttle.strike("k", 0.0)
    assert throttle.retry_after("k", 0.0) == 1.0
    assert throttle.retry_after("k", 60.0) == 0
    throttle.strike("k", 100.0)
    throttle.forgive("k", 100.0)
    assert throttle.retry_after("k", 100.0) == 0


def test_memory_stays_bounded_when_keys_vary() -> None:
    throttle = LoginThrottle(max_keys=100)
    for n in range(1_000):
        throttle.strike(f"user:{n}", 0.0)
    assert len(throttle._strikes) == 100


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LoginThrottle(max_delay=600.0, forget_after=60.0)
    with pytest.raises(ValueError):
        ExpiringMap[str, int](0)


def test_a_request_rate_allows_the_burst_then_one_per_interval() -> None:
    rate = RequestRate(rate=0.5, burst=3)
    assert [rate.take("a", 0.0) for _ in range(4)] == [0, 0, 0, 2.0]
    assert rate.take("b", 0.0) == 0  # every address has its own bucket
    assert rate.take("a", 1.0) == 1.0  # half a request earned back: one more second
    assert rate.take("a", 2.0) == 0
    assert rate.take("a", 2.0) == 2.0
    assert rate.take("a", 100.0) == 0  # refilled, but never beyond the burst
    assert [rate.take("a", 100.0) for _ in range(3)] == [0, 0, 2.0]


def test_a_request_rate_keeps_a_bounded_number_of_addresses() -> None:
    rate = RequestRate(rate=1.0, burst=1, max_keys=50)
    for n in range(1_000):
        rate.take(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(rate) == 50
    assert rate.take("10.0.3.231", 0.0) > 0  # the most recent ones are kept


def test_the_brake_slows_only_while_many_sign_ins_fail() -> None:
    brake = SignInBrake(cap=3, window=60.0, delay=2.0)
    for _ in range(3):
        assert brake.delay(0.0) == 0
        brake.failed(0.0)
    assert brake.delay(0.0) == 0  # at the cap, not over it
    brake.failed(0.0)
    assert brake.delay(0.0) == 2.0 and brake.delay(1.0) == 2.0
    assert brake.delay(60.0) == 0  # failures fade: four become fewer than the cap


def test_sign_in_locks_out_a_user_at_one_address_and_an_address_never_a_user_everywhere() -> None:
    limits = SignInLimits()
    for _ in range(5):
        limits.begin("Admin", "203.0.113.9", 0.0)  # five failures (never forgiven)
    with pytest.raises(RateLimited):
        limits.begin("admin", "203.0.113.9", 0.0)
    limits.begin("admin", "198.51.100.7", 0.0)  # the same user elsewhere: not locked
    for n in range(15):
        limits.begin(f"user{n}", "203.0.113.9", 0.0)  # 20 failures from this address now
    with pytest.raises(RateLimited):
        limits.begin("someone", "203.0.113.9", 0.0)  # the address itself is locked out
    keys = limits.begin("admin", "192.0.2.1", 0.0)
    limits.succeeded(keys, 0.0)  # a success forgives that user at that address
    assert [key for _, key in keys] == ["user:admin@192.0.2.1", "addr:192.0.2.1"]


def test_limits_refuse_meaningless_settings() -> None:
    with pytest.raises(ValueError):
        RequestRate(rate=0, burst=1)
    with pytest.raises(ValueError):
        SignInBrake(cap=0)
