"""The OIDC sign-in routes over the app's real graph, against the real loopback provider.

httpx plays the browser: `browser` talks to the app (in-process, keeping cookies like a
browser), `outside` follows the provider's authorization URL and reads where the provider sends
the browser back. Each negative case is its own test; each must end on the login page with a
message saying what went wrong, with no account and no session made.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from app.api.oidc_routes import BINDING_COOKIE, SECURE_BINDING_COOKIE
from app.auth_guard import SESSION_COOKIE
from app.wiring import Runtime
from services.auth import oidc_access, oidc_sign_in
from services.store.models import AuditEvent, AuditOutcome, AuthMode, Role, User
from tests.support.api_app import build_api
from tests.support.auth_fakes import ADMIN_PASSWORD
from tests.support.oidc_provider import OidcProvider, TestUser
from tests.support.runtime import add_admin, open_runtime, settings_for

ADDRESS = "192.0.2.7"


@dataclass
class Site:
    runtime: Runtime
    provider: OidcProvider
    browser: httpx.AsyncClient  # the app, keeping cookies as a browser does
    outside: httpx.AsyncClient  # the provider

    def configure(self, **changes: Any) -> None:
        self.runtime.stores.settings.update_auth(**changes)

    async def start(self, next_path: str = "/projects") -> str:
        """Press "Sign in with ...": the provider's authorization URL."""
        reply = await self.browser.get("/api/auth/oidc/login", params={"next": next_path})
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"].startswith(self.provider.issuer)
        return reply.headers["location"]

    async def approve(self, url: str) -> str:
        """The provider approves and sends the browser back: our callback's path and query."""
        reply = await self.outside.get(url)
        assert reply.status_code == 302, reply.text
        back = urlsplit(reply.headers["location"])
        assert (back.scheme, back.netloc, back.path) == ("http", "dw.test", CALLBACK)
        return f"{back.path}?{back.query}"

    async def sign_in(self, next_path: str = "/projects") -> httpx.Response:
        return await self.browser.get(await self.approve(await self.start(next_path)))

    def users(self) -> list[User]:
        return self.runtime.stores.users.all()

    def sign_ins(self) -> list[AuditEvent]:
        with self.runtime.db.session() as session:
            query = select(AuditEvent).where(AuditEvent.action == "sign_in")
            return list(session.exec(query).all())

    def refusal(self, reply: httpx.Response, users: tuple[str, ...] = ("admin",)) -> str:
        """The message the login page shows after a failed sign-in; no session was made and
        the accounts are still `users`."""
        assert reply.status_code == 303, reply.text
        location = urlsplit(reply.headers["location"])
        assert location.path == "/login"
        key = parse_qs(location.query)["oidc_error"][0]
        message = self.runtime.oidc.noted(key)
        assert message is not None
        assert SESSION_COOKIE not in self.browser.cookies
        assert tuple(u.username for u in self.users()) == users
        return message


CALLBACK = "/api/auth/oidc/callback"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    with OidcProvider() as provider:
        runtime = open_runtime(settings_for(tmp_path / "data"))
        add_admin(runtime)
        runtime.stores.settings.update_auth(
            client_secret=provider.client_secret,
            mode=AuthMode.BOTH,
            oidc_discovery_url=provider.discovery_url,
            oidc_client_id=provider.client_id,
            oidc_display_name="Test provider",
            oidc_default_role="viewer",
        )
        transport = httpx.ASGITransport(build_api(runtime), client=(ADDRESS, 5000))
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://dw.test") as browser,
                httpx.AsyncClient(timeout=10) as outside,
            ):
                yield Site(runtime, provider, browser, outside)
        finally:
            await runtime.close(drain_seconds=10, notify_grace=1)


async def test_a_sign_in_makes_the_account_and_our_session_and_goes_where_asked(
    site: Site,
) -> None:
    site.configure(oidc_role_map={"watchers": "deployer"})
    reply = await site.sign_in("/projects?tab=2")

    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == "/projects?tab=2"
    cookies = reply.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
    assert any(c.startswith(f'{BINDING_COOKIE}=""') for c in cookies)  # the binding is cleared
    alice = site.runtime.stores.users.by_username("alice")
    assert alice is not None and alice.password_hash is None
    assert (alice.oidc_issuer, alice.oidc_subject) == (site.provider.issuer, "user-1")
    assert alice.role == Role.DEPLOYER and alice.email == "alice@example.test"
    assert alice.last_login_at is not None
    principal = site.runtime.auth.verify(site.browser.cookies[SESSION_COOKIE])
    assert (principal.username, principal.role) == ("alice", Role.DEPLOYER)
    assert (await site.browser.get("/api/projects")).status_code == 200
    [row] = site.sign_ins()
    assert (row.actor, row.outcome, row.address) == ("alice", AuditOutcome.OK, ADDRESS)
    assert row.detail == {"method": "oidc"}

    # Signing out ends this session exactly like a password session.
    ours = {"Origin": "http://dw.test"}
    assert (await site.browser.post("/api/auth/logout", headers=ours)).status_code == 200
    assert (await site.browser.get("/api/projects")).status_code == 401


async def test_the_binding_cookie_is_short_lived_http_only_lax_and_host_prefixed_over_https(
    site: Site,
) -> None:
    plain = await site.browser.get("/api/auth/oidc/login")
    cookie = next(c for c in plain.headers.get_list("set-cookie") if "dw_oidc" in c)
    assert cookie.startswith(f"{BINDING_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Max-Age=600" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie

    site.browser.base_url = httpx.URL("https://dw.test")
    secure = await site.browser.get("/api/auth/oidc/login")
    cookie = next(c for c in secure.headers.get_list("set-cookie") if "dw_oidc" in c)
    assert cookie.startswith(f"{SECURE_BINDING_COOKIE}=") and "Secure" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie
    redirect_uri = parse_qs(urlsplit(secure.headers["location"]).query)["redirect_uri"]
    assert redirect_uri == [f"https://dw.test{CALLBACK}"]


async def test_a_foreign_next_address_becomes_the_dashboard(site: Site) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/login"):
        site.browser.cookies.clear()
        reply = await site.sign_in(target)
        assert reply.headers["location"] == "/"


async def test_another_site_cannot_start_a_sign_in_in_this_browser(site: Site) -> None:
    headers = {"Sec-Fetch-Site": "cross-site"}
    reply = await site.browser.get("/api/auth/oidc/login", headers=headers)
    assert reply.status_code == 403
    assert site.provider.counters.authorize == 0
    same_site = await site.browser.get(
        "/api/auth/oidc/login", headers={"Sec-Fetch-Site": "same-site"}
    )
    assert same_site.status_code == 403
    ours = await site.browser.get("/api/auth/oidc/login", headers={"Sec-Fetch-Site": "same-origin"})
    assert ours.status_code == 303


async def test_a_callback_in_a_browser_that_did_not_start_it_is_refused(site: Site) -> None:
    """Login CSRF: someone's own callback pushed into another person's browser."""
    callback = await site.approve(await site.start())
    site.browser.cookies.clear()  # the victim's browser: it never started this sign-in

    message = site.refusal(await site.browser.get(callback))

    assert message == oidc_sign_in.NOT_STARTED_HERE
    assert site.provider.counters.token == 0  # the code was never even redeemed


async def test_a_wrong_state_is_refused(site: Site) -> None:
    callback = await site.approve(await site.start())
    tampered = callback.replace("state=", "state=x")

    message = site.refusal(await site.browser.get(tampered))

    assert "state does not match" in message
    [row] = site.sign_ins()
    assert (row.actor, row.outcome, row.address) == ("(unknown)", AuditOutcome.FAILED, ADDRESS)


async def test_a_replayed_callback_is_refused(site: Site) -> None:
    callback = await site.approve(await site.start())
    assert (await site.browser.get(callback)).status_code == 303
    site.browser.cookies.delete(SESSION_COOKIE)

    message = site.refusal(await site.browser.get(callback), ("admin", "alice"))

    assert message == oidc_sign_in.NOT_STARTED_HERE


async def test_a_replayed_code_is_refused_by_the_provider(site: Site) -> None:
    used = await site.approve(await site.start())
    assert (await site.browser.get(used)).status_code == 303
    site.browser.cookies.delete(SESSION_COOKIE)
    fresh = await site.approve(await site.start())  # a new sign-in in the same browser
    code = parse_qs(urlsplit(used).query)["code"][0]
    state = parse_qs(urlsplit(fresh).query)["state"][0]

    reply = await site.browser.get(CALLBACK, params={"code": code, "state": state})

    assert "invalid_grant" in site.refusal(reply, ("admin", "alice"))


@pytest.mark.parametrize(
    ("fault", "value", "wording"),
    [
        ("wrong_nonce", True, "nonce does not match"),
        ("audience", "someone-else", "issued for another client"),
        ("expired", True, "has expired"),
        ("unknown_key", True, "key the provider does not publish"),
    ],
)
async def test_a_bad_id_token_is_refused(
    site: Site, fault: str, value: object, wording: str
) -> None:
    setattr(site.provider.faults, fault, value)

    message = site.refusal(await site.sign_in())

    assert wording in message and message.startswith("The sign-in was refused: ")
    [row] = site.sign_ins()
    assert row.outcome == AuditOutcome.FAILED and wording in row.message


async def test_a_provider_down_at_the_start_is_said_on_the_login_page(site: Site) -> None:
    site.provider.stop()

    reply = await site.browser.get("/api/auth/oidc/login", params={"next": "/projects"})

    assert site.refusal(reply) == oidc_sign_in.PROVIDER_DOWN
    assert parse_qs(urlsplit(reply.headers["location"]).query)["next"] == ["/projects"]
    login = {"username": "admin", "password": ADMIN_PASSWORD}  # "both": passwords still work
    assert (await site.browser.post("/api/auth/login", json=login)).status_code == 200


async def test_a_provider_down_at_the_callback_is_said_on_the_login_page(site: Site) -> None:
    callback = await site.approve(await site.start())
    site.provider.stop()

    assert site.refusal(await site.browser.get(callback)) == oidc_sign_in.PROVIDER_DOWN


async def test_a_person_outside_the_allow_lists_is_refused_and_nothing_is_made(
    site: Site,
) -> None:
    site.configure(allowed_users=["bob"], allowed_groups=["admins"])

    assert site.refusal(await site.sign_in()) == oidc_access.NOT_ALLOWED

    [row] = site.sign_ins()
    assert (row.actor, row.outcome, row.address) == ("alice", AuditOutcome.REFUSED, ADDRESS)
    assert row.message == oidc_access.NOT_ALLOWED
    site.configure(allowed_groups=["watchers"])  # now her group is allowed
    assert (await site.sign_in()).headers["location"] == "/projects"


async def test_an_unverified_email_does_not_pass_the_domain_list(site: Site) -> None:
    site.configure(allowed_email_domains=["example.test"])
    site.provider.user.email_verified = False

    assert site.refusal(await site.sign_in()) == oidc_access.UNVERIFIED_EMAIL


async def test_no_role_for_the_person_is_refused(site: Site) -> None:
    site.configure(oidc_default_role="", oidc_role_map={"admins": "admin"})

    assert site.refusal(await site.sign_in()) == oidc_access.NO_ROLE


async def test_a_provider_account_named_admin_never_becomes_our_admin(site: Site) -> None:
    site.provider.user = TestUser(sub="gitea-1", username="admin", email="root@example.test")
    site.configure(oidc_role_map={"watchers": "viewer"})

    assert site.refusal(await site.sign_in()) == oidc_sign_in.USERNAME_TAKEN

    admin = site.runtime.stores.users.by_username("admin")
    assert admin is not None and admin.oidc_subject is None and admin.last_login_at is None
    [row] = site.sign_ins()
    assert (row.actor, row.outcome) == ("admin", AuditOutcome.REFUSED)


async def test_people_are_matched_by_issuer_and_subject_and_their_role_is_refreshed(
    site: Site,
) -> None:
    assert (await site.sign_in()).status_code == 303
    first = site.runtime.auth.verify(site.browser.cookies[SESSION_COOKIE])
    assert first.role == Role.VIEWER
    site.browser.cookies.clear()
    site.provider.user.username = "alice-renamed"  # same subject: the same account
    site.configure(oidc_role_map={"watchers": "admin"})

    assert (await site.sign_in()).status_code == 303

    [_, alice] = site.users()
    assert (alice.username, alice.role) == ("alice", Role.ADMIN)
    second = site.runtime.auth.verify(site.browser.cookies[SESSION_COOKIE])
    assert (second.user_id, second.role) == (first.user_id, Role.ADMIN)
    assert alice.sessions_valid_from >= int(first.issued_at.timestamp())  # earlier ones end


async def test_a_disabled_user_is_refused(site: Site) -> None:
    assert (await site.sign_in()).status_code == 303
    site.browser.cookies.clear()
    alice = site.runtime.stores.users.by_username("alice")
    assert alice is not None and alice.id is not None
    site.runtime.stores.users.update(alice.id, disabled=True)

    message = site.refusal(await site.sign_in(), ("admin", "alice"))

    assert message == oidc_sign_in.DISABLED
    assert [r.outcome for r in site.sign_ins()] == [AuditOutcome.OK, AuditOutcome.REFUSED]


async def test_oidc_only_mode_refuses_passwords(site: Site) -> None:
    site.configure(mode=AuthMode.OIDC)
    login = {"username": "admin", "password": ADMIN_PASSWORD}

    reply = await site.browser.post("/api/auth/login", json=login)

    assert reply.status_code == 403
    assert "password sign-in is turned off" in reply.text
    assert (await site.sign_in()).headers["location"] == "/projects"


async def test_local_mode_offers_no_provider_sign_in(site: Site) -> None:
    site.configure(mode=AuthMode.LOCAL)

    reply = await site.browser.get("/api/auth/oidc/login")

    assert site.refusal(reply) == oidc_sign_in.NOT_ENABLED
    assert site.provider.counters.discovery == 0


async def test_the_client_is_kept_across_sign_ins_and_rebuilt_when_settings_change(
    site: Site,
) -> None:
    for _ in range(2):
        site.browser.cookies.clear()
        assert (await site.sign_in()).status_code == 303
    assert site.provider.counters.discovery == 1 and site.provider.counters.jwks == 1

    site.configure(oidc_scopes="openid email profile groups")
    site.browser.cookies.clear()
    assert (await site.sign_in()).status_code == 303
    assert site.provider.counters.discovery == 2


async def test_claims_missing_from_the_id_token_come_from_userinfo(site: Site) -> None:
    site.provider.faults.thin_id_token = True
    site.configure(allowed_groups=["watchers"])

    assert (await site.sign_in()).headers["location"] == "/projects"

    assert site.provider.counters.userinfo == 1
    [_, alice] = site.users()
    assert (alice.username, alice.email) == ("alice", "alice@example.test")


async def test_a_sign_in_cancelled_at_the_provider_says_so(site: Site) -> None:
    url = await site.start()
    state = parse_qs(urlsplit(url).query)["state"][0]

    reply = await site.browser.get(CALLBACK, params={"error": "access_denied", "state": state})

    assert "access_denied" in site.refusal(reply)
    assert site.provider.counters.token == 0


async def test_no_secret_of_the_round_trip_reaches_the_log_or_the_audit_table(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callback = await site.approve(await site.start())
    code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(callback).query)["state"][0]
    assert (await site.browser.get(callback)).status_code == 303
    session = site.browser.cookies[SESSION_COOKIE]
    site.provider.faults.expired = True
    site.browser.cookies.clear()
    site.refusal(await site.sign_in(), ("admin", "alice"))

    rows = " ".join(f"{r.actor} {r.detail} {r.message} {r.target}" for r in site.sign_ins())
    # httpx logs the URLs this test's own client fetches (the app keeps httpx at WARNING).
    ours = " ".join(r.getMessage() for r in caplog.records if not r.name.startswith("http"))
    for secret in (site.provider.client_secret, code, state, session):
        assert secret and secret not in ours and secret not in rows


async def test_a_sign_in_that_took_too_long_at_the_provider_is_refused(site: Site) -> None:
    now = [1000.0]
    runtime = site.runtime
    flow = oidc_sign_in.OidcSignIn(
        settings=runtime.stores.settings,
        users=runtime.stores.users,
        auth=runtime.auth,
        audit=runtime.audit,
        http=site.outside,
        clock=lambda: now[0],
    )
    started = await flow.begin(f"http://dw.test{CALLBACK}", "/")
    callback = parse_qs(urlsplit(await site.approve(started.url)).query)
    now[0] += oidc_sign_in.PENDING_TTL

    with pytest.raises(oidc_sign_in.SignInFailed) as failed:
        await flow.finish(started.binding, {k: v[0] for k, v in callback.items()})

    assert str(failed.value) == oidc_sign_in.NOT_STARTED_HERE
    assert site.provider.counters.token == 0
