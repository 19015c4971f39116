"""Bounded in-memory bookkeeping: an expiring map, the failed-login throttle, a request rate.

Nothing here survives a restart, on purpose: the state is short-lived (seconds to hours) and
keeping it in memory means an attacker's flood of attempts never turns into database writes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.errors import RateLimited

K = TypeVar("K")
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """Entries that vanish at their deadline; at most `max_items`, the oldest dropped first.

    Bounded so that whoever controls the keys (usernames, addresses, tickets) cannot grow it
    without limit; expired entries are swept only when the map is full, so `put` stays cheap.
    """

    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._max = max_items
        self._items: dict[K, tuple[V, float]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: K, value: V, deadline: float, now: float) -> None:
        """Store (or replace, moving it to the newest end) a value until `deadline`."""
        self._items.pop(key, None)
        if len(self._items) >= self._max:
            self._sweep(now)
        if len(self._items) >= self._max:
            del self._items[next(iter(self._items))]
        self._items[key] = (value, deadline)

    def get(self, key: K, now: float) -> V | None:
        item = self._items.get(key)
        if item is None or item[1] <= now:
            return None
        return item[0]

    def pop(self, key: K, now: float) -> V | None:
        """Remove and return a live value (None when absent or expired): for one-time use."""
        item = self._items.pop(key, None)
        if item is None or item[1] <= now:
            return None
        return item[0]

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, deadline) in self._items.items() if deadline <= now]:
            del self._items[key]


@dataclass(frozen=True)
class _Strikes:
    count: int
    last: float


class LoginThrottle:
    """Slows repeated failed sign-ins for one key (a username at an address, or an address).

    The choice: a temporary lockout that doubles with every further failure, rather than
    sleeping before answering. After `free_attempts` failures, attempts are refused for
    `base_delay * 2**(failures - free_attempts)` seconds (at most `max_delay`) without checking
    the password, so refused attempts cost no bcrypt work, and parallel requests cannot get
    around it the way they get around a per-response delay. Every attempt counts as a failure
    when it starts and is forgiven when it succeeds, so a burst of concurrent guesses is counted
    before any of them finishes. A key is forgotten `forget_after` seconds after its last
    failure; at most `max_keys` keys are kept (oldest dropped), which bounds memory even when an
    attacker varies usernames.

    Keys hold the client address, so a lockout stops the address that guessed, never the user
    everywhere: five wrong passwords from one address must not lock the admin out of every
    other one (`SignInBrake` covers guessing spread over many addresses, by slowing only).
    """

    def __init__(
        self,
        *,
        free_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        forget_after: float = 3600.0,
        max_keys: int = 10_000,
    ) -> None:
        if forget_after < max_delay:
            raise ValueError("forget_after must not be shorter than max_delay")
        self._free = free_attempts
        self._base = base_delay
        self._max_delay = max_delay
        self._forget = forget_after
        self._strikes: ExpiringMap[str, _Strikes] = ExpiringMap(max_keys)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        strikes = self._strikes.get(key, now)
        if strikes is None or strikes.count < self._free:
            return 0.0
        delay = min(self._base * 2.0 ** (strikes.count - self._free), self._max_delay)
        return max(0.0, strikes.last + delay - now)

    def strike(self, key: str, now: float) -> None:
        """Count one (possibly still running) failed attempt."""
        previous = self._strikes.get(key, now)
        count = previous.count + 1 if previous else 1
        self._strikes.put(key, _Strikes(count, now), now + self._forget, now)

    def forgive(self, key: str, now: float) -> None:
        """Forget the failures of `key` after a successful sign-in."""
        self._strikes.pop(key, now)


class RequestRate:
    """A token bucket per key (a client address): `burst` requests at once, then `rate` a second.

    For public endpoints that anyone may call (the webhook): a caller over its rate is answered
    429 with the seconds to wait, before any work is done. Memory is bounded: at most `max_keys`
    buckets are kept, and the one left alone the longest makes room. A bucket left alone for
    `burst / rate` seconds is full again, the same as no bucket, so that usually loses nothing;
    only when all are in use does a caller start again with a full bucket (the price of a bound
    that an attacker with many addresses cannot grow).
    """

    def __init__(self, *, rate: float, burst: int, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst and max_keys at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> float:
        """Spend one request of `key`: 0 when allowed, else the seconds until one is."""
        tokens, then = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / self._rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self._max:  # the first is the one left alone the longest
            del self._buckets[next(iter(self._buckets))]
        self._buckets[key] = (tokens, now)


class SignInBrake:
    """Slows every sign-in while failures pile up across all addresses; never refuses one.

    The per-address throttles cannot see an attacker spread over many addresses. Refusing
    everyone then would hand that attacker a lockout of the real admin, so this only slows:
    while the recent failures (each fading away with a time constant of `window` seconds) number
    more than `cap`, every attempt waits `delay` seconds before its password is checked. The
    right password still signs in, a little later; guessing from everywhere gets slower. One
    number is kept, whatever the number of attackers.
    """

    def __init__(self, *, cap: int = 100, window: float = 60.0, delay: float = 2.0) -> None:
        if cap < 1 or window <= 0 or delay < 0:
            raise ValueError("cap must be at least 1, window positive, delay not negative")
        self._cap = cap
        self._window = window
        self._delay = delay
        self._level = 0.0
        self._when = 0.0

    def failed(self, now: float) -> None:
        """Count one failed sign-in."""
        self._level = self._faded(now) + 1
        self._when = now

    def delay(self, now: float) -> float:
        """Seconds an attempt starting now waits before its password is checked."""
        return self._delay if self._faded(now) > self._cap else 0.0

    def _faded(self, now: float) -> float:
        return self._level * math.exp(-max(0.0, now - self._when) / self._window)


class SignInLimits:
    """Every rule that slows password guessing, applied by `AuthService` to each attempt.

    Lockouts per (username at an address) and per address, never per username everywhere; the
    address gets a higher allowance, since behind a reverse proxy many people share one. Across
    all addresses the brake only slows down. Keys: `user:<name>@<address>`, `addr:<address>`.
    """

    def __init__(
        self,
        *,
        user: LoginThrottle | None = None,
        address: LoginThrottle | None = None,
        brake: SignInBrake | None = None,
    ) -> None:
        self._user = user or LoginThrottle(free_attempts=5)
        self._address = address or LoginThrottle(free_attempts=20)
        self._brake = brake or SignInBrake()

    def begin(self, username: str, client: str, now: float) -> list[tuple[LoginThrottle, str]]:
        """Count an attempt as failed until it succeeds; the keys it was counted under.

        Raises RateLimited (with `retry_after`) while one of its keys is locked out; a refused
        attempt is not counted and costs no password check.
        """
        name = username.strip().casefold()[:150]
        keys = [(self._user, f"user:{name}@{client}")]
        if client:
            keys.append((self._address, f"addr:{client}"))
        wait = max(throttle.retry_after(key, now) for throttle, key in keys)
        if wait > 0:
            seconds = math.ceil(wait)
            raise RateLimited(f"too many failed sign-ins; try again in {seconds} s", seconds)
        for throttle, key in keys:
            throttle.strike(key, now)
        return keys

    def delay(self, now: float) -> float:
        """Seconds to wait before checking the password (the brake; usually 0)."""
        return self._brake.delay(now)

    def failed(self, now: float) -> None:
        self._brake.failed(now)

    def succeeded(self, keys: list[tuple[LoginThrottle, str]], now: float) -> None:
        for throttle, key in keys:
            throttle.forgive(key, now)
