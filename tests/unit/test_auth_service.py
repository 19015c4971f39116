"""AuthService: passwords, even timing for unknown users, tokens, sign-out, throttling."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import jwt
import pytest

from services.auth.limits import SignInBrake, SignInLimits
from services.auth.sessions import FAILED, AuthService, Principal, safe_next
from services.errors import InvalidAuth, RateLimited, ValidationFailed
from services.store.models import Role, User
from tests.support.auth_fakes import ADMIN_PASSWORD, JWT_KEY, FakeUsers, SpyHasher, make_auth


async def test_right_password_signs_in_and_records_the_time() -> None:
    auth, users, clock, _ = make_auth()
    issued = await auth.login("admin", ADMIN_PASSWORD, client="10.0.0.1")
    assert users.users["admin"].last_login_at == clock.now
    assert issued.expires_at == clock.now + timedelta(hours=12)
    principal = auth.verify(issued.token)
    assert (principal.user_id, principal.username) == (1, "admin")


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong password"), ("nobody", ADMIN_PASSWORD), ("Admin", ADMIN_PASSWORD)],
)
async def test_every_failure_has_the_same_generic_message(username: str, password: str) -> None:
    auth, *_ = make_auth()
    with pytest.raises(InvalidAuth) as caught:
        await auth.authenticate(username, password)
    assert str(caught.value) == FAILED


async def test_unknown_user_still_costs_one_bcrypt_check() -> None:
    auth, users, _, hasher = make_auth()
    with pytest.raises(InvalidAuth):
        await auth.authenticate("nobody", "whatever")
    assert len(hasher.checked) == 1
    dummy = hasher.checked[0]
    assert dummy.startswith("$2b$") and dummy != users.users["admin"].password_hash


async def test_account_without_local_password_cannot_sign_in() -> None:
    hasher = SpyHasher()
    oidc_only = User(id=2, username="sso", password_hash=None)
    auth, *_ = make_auth(oidc_only, hasher=hasher)
    with pytest.raises(InvalidAuth):
        await auth.authenticate("sso", "")
    assert len(hasher.checked) == 1  # the dummy hash: same work as any other user


async def test_bcrypt_runs_in_a_worker_thread() -> None:
    auth, _, _, hasher = make_auth()
    await auth.authenticate("admin", ADMIN_PASSWORD)
    assert hasher.checked_on_loop == [False]


async def test_password_longer_than_bcrypt_reads_never_matches() -> None:
    hasher = SpyHasher()
    exact = "p" * 72
    auth, *_ = make_auth(User(id=1, username="u", password_hash=hasher.hash(exact)), hasher=hasher)
    assert (await auth.authenticate("u", exact)).username == "u"
    with pytest.raises(InvalidAuth):
        await auth.authenticate("u", exact + "extra")  # bcrypt alone would accept this


async def test_token_expires_by_the_injected_clock() -> None:
    auth, _, clock, _ = make_auth()
    token = (await auth.login("admin", ADMIN_PASSWORD)).token
    clock.advance(12 * 3600 - 1)
    assert auth.verify(token).username == "admin"
    clock.advance(1)
    with pytest.raises(InvalidAuth, match="expired"):
        auth.verify(token)


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_tampered_foreign_or_unsigned_tokens_are_refused() -> None:
    auth, _, clock, _ = make_auth()
    token = (await auth.login("admin", ADMIN_PASSWORD)).token
    now = int(clock.now.timestamp())
    claims = {"sub": "1", "name": "admin", "role": "admin", "iat": now, "exp": now + 60, "jti": "x"}
    forged = [
        jwt.encode({**claims, "role": "root"}, JWT_KEY, algorithm="HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "role"}, JWT_KEY, algorithm="HS256"),
        _tamper(token),
        jwt.encode(claims, b"another key of thirty-two bytes!", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none"),
        "not-a-token",
        "",
    ]
    for bad in forged:
        with pytest.raises(InvalidAuth):
            auth.verify(bad)
    signed_in = auth.verify(jwt.encode(claims, JWT_KEY, algorithm="HS256"))
    assert (signed_in.username, signed_in.role) == ("admin", Role.ADMIN)


async def test_sign_out_ends_only_that_session() -> None:
    auth, *_ = make_auth()
    first = (await auth.login("admin", ADMIN_PASSWORD)).token
    second = (await auth.login("admin", ADMIN_PASSWORD)).token
    await auth.sign_out(first)
    await auth.sign_out("garbage")  # ignored, no error
    with pytest.raises(InvalidAuth, match="signed out"):
        auth.verify(first)
    assert auth.verify(second).username == "admin"


async def test_new_password_works_and_ends_older_sessions() -> None:
    auth, _, clock, _ = make_auth()
    old_session = (await auth.login("admin", ADMIN_PASSWORD)).token
    clock.advance(1)
    await auth.set_password(1, "a brand new secret")
    with pytest.raises(InvalidAuth, match="password was changed"):
        auth.verify(old_session)
    with pytest.raises(InvalidAuth):
        await auth.authenticate("admin", ADMIN_PASSWORD)
    assert auth.verify((await auth.login("admin", "a brand new secret")).token)


async def test_ended_sessions_are_announced_and_is_valid_follows_them() -> None:
    auth, _, clock, _ = make_auth()
    told: list[str] = []
    auth.on_sessions_ended(lambda: told.append("ended"))
    first, second = [(await auth.login("admin", ADMIN_PASSWORD)).token for _ in range(2)]
    signed_out, changed = auth.verify(first), auth.verify(second)

    await auth.sign_out("garbage")  # nothing ended, nothing told
    assert told == [] and auth.is_valid(signed_out)
    await auth.sign_out(first)
    assert told == ["ended"] and not auth.is_valid(signed_out) and auth.is_valid(changed)
    clock.advance(1)
    await auth.set_password(1, "a brand new secret")
    assert told == ["ended", "ended"] and not auth.is_valid(changed)

    fresh = auth.verify((await auth.login("admin", "a brand new secret")).token)
    clock.advance(12 * 3600)  # expiry is found by asking: nobody announces it
    assert not auth.is_valid(fresh) and told == ["ended", "ended"]


async def test_the_changing_session_is_handed_its_successor_before_the_announcement() -> None:
    auth, _, clock, _ = make_auth()
    mine = auth.verify((await auth.login("admin", ADMIN_PASSWORD)).token)
    clock.advance(1)
    order: list[tuple[str, bool]] = []
    kept: list[Principal] = []

    def keep(successor: Principal) -> None:
        kept.append(successor)
        order.append(("keep", auth.is_valid(successor)))

    auth.on_sessions_ended(lambda: order.append(("ended", auth.is_valid(mine))))
    issued = await auth.change_password(mine, ADMIN_PASSWORD, "a brand new secret", keep=keep)
    assert order == [("keep", True), ("ended", False)]
    assert kept == [auth.verify(issued.token)]


@pytest.mark.parametrize("password", ["short", "é" * 37])
async def test_password_rules_name_the_field(password: str) -> None:
    auth, *_ = make_auth()
    with pytest.raises(ValidationFailed) as caught:
        await auth.set_password(1, password)
    assert caught.value.errors[0].path == "password"


async def test_repeated_failures_lock_the_username_with_growing_delays() -> None:
    auth, _, clock, hasher = make_auth()
    for _ in range(5):
        with pytest.raises(InvalidAuth):
            await auth.authenticate("admin", "guess")
    with pytest.raises(RateLimited) as caught:
        await auth.authenticate("admin", ADMIN_PASSWORD)  # refused even with the right one
    assert caught.value.retry_after == 1
    assert len(hasher.checked) == 5  # a refused attempt costs no bcrypt work
    clock.advance(1)
    with pytest.raises(InvalidAuth):
        await auth.authenticate("admin", "guess")
    with pytest.raises(RateLimited) as caught:
        await auth.authenticate("ADMIN", "guess")  # same key whatever the case
    assert caught.value.retry_after == 2
    clock.advance(2)
    await auth.authenticate("admin", ADMIN_PASSWORD)  # success forgives
    with pytest.raises(InvalidAuth):
        await auth.authenticate("admin", "guess")


async def test_one_address_guessing_many_usernames_is_slowed() -> None:
    auth, *_ = make_auth()
    for n in range(20):
        with pytest.raises(InvalidAuth):
            await auth.authenticate(f"user{n}", "guess", client="203.0.113.9")
    with pytest.raises(RateLimited):
        await auth.authenticate("admin", ADMIN_PASSWORD, client="203.0.113.9")
    assert (await auth.authenticate("admin", ADMIN_PASSWORD, client="198.51.100.7")).id == 1


async def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere() -> None:
    auth, *_ = make_auth()
    for _ in range(5):
        with pytest.raises(InvalidAuth):
            await auth.authenticate("admin", "guess", client="203.0.113.9")
    with pytest.raises(RateLimited):
        await auth.authenticate("admin", ADMIN_PASSWORD, client="203.0.113.9")
    assert (await auth.authenticate("admin", ADMIN_PASSWORD, client="198.51.100.7")).id == 1


async def test_guessing_from_many_addresses_slows_every_sign_in_but_blocks_none() -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    auth, users, clock, hasher = make_auth()
    auth = AuthService(
        users,
        JWT_KEY,
        clock=clock,
        hasher=hasher,
        limits=SignInLimits(brake=SignInBrake(cap=6)),
        sleep=sleep,
    )
    for n in range(12):  # two tries from each of six addresses: none of them is throttled
        with pytest.raises(InvalidAuth):
            await auth.authenticate("admin", "guess", client=f"203.0.113.{n // 2}")
    assert len(waited) == 5  # the attempts after the sixth failure waited
    assert (await auth.authenticate("admin", ADMIN_PASSWORD, client="198.51.100.7")).id == 1
    assert len(waited) == 6 and set(waited) == {2.0}  # the admin too: later, not refused


async def test_a_concurrent_burst_is_counted_before_any_attempt_finishes() -> None:
    auth, _, _, hasher = make_auth()
    results = await asyncio.gather(
        *(auth.authenticate("admin", "guess") for _ in range(8)), return_exceptions=True
    )
    assert [type(r) for r in results] == [InvalidAuth] * 5 + [RateLimited] * 3
    assert len(hasher.checked) == 5


async def test_hand_off_ticket_works_once_and_expires() -> None:
    auth, _, clock, _ = make_auth()
    issued = await auth.login("admin", ADMIN_PASSWORD)
    ticket = auth.hand_off(issued)
    assert auth.redeem(ticket) == issued
    with pytest.raises(InvalidAuth):
        auth.redeem(ticket)
    late = auth.hand_off(issued)
    clock.advance(60)
    with pytest.raises(InvalidAuth):
        auth.redeem(late)


def test_short_jwt_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AuthService(FakeUsers(), b"short")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/projects/3?tab=log", "/projects/3?tab=log"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        ("/login?next=/x", "/"),
        ("projects", "/"),
    ],
)
def test_next_accepts_only_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


async def test_a_disabled_user_cannot_sign_in_nor_get_a_token() -> None:
    auth, users, _, _ = make_auth()
    users.update(1, disabled=True)

    with pytest.raises(InvalidAuth, match=FAILED):
        await auth.authenticate("admin", ADMIN_PASSWORD)
    with pytest.raises(InvalidAuth, match=FAILED):
        auth.issue_token(users.users["admin"])


async def test_ended_sessions_end_at_once_and_later_ones_hold_even_in_the_same_second() -> None:
    auth, users, clock, _ = make_auth()
    ended: list[bool] = []
    auth.on_sessions_ended(lambda: ended.append(True))
    before = auth.verify(auth.issue_token(users.users["admin"]).token)

    auth.cut_sessions(1, auth.cut_off())
    clock.advance(0.01)
    after = auth.verify(auth.issue_token(users.users["admin"]).token)

    assert not auth.is_valid(before) and auth.is_valid(after) and ended == [True]
