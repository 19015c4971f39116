"""Which open pages belong to which session, and which have ended (PageSessions' bookkeeping;
the socket side runs against the real process in tests/integration/test_page_socket.py)."""

from __future__ import annotations

from app.auth_guard import SESSION_COOKIE
from app.page_sessions import PageSessions
from tests.pages.conftest import Browser


async def open_signed_in(browser: Browser) -> str:
    """Open the protected `/` with a fresh session cookie; answers the token."""
    token = browser.auth.issue_token(browser.users.users["admin"]).token
    browser.user.http_client.cookies.set(SESSION_COOKIE, token)
    await browser.user.open("/")
    await browser.user.should_see("Dashboard")
    return token


async def test_a_page_belongs_to_the_session_that_rendered_it_until_it_expires(
    browser: Browser,
) -> None:
    token = await open_signed_in(browser)
    sessions, page = PageSessions(browser.auth), browser.user.client
    assert sessions.session_of(page) == browser.auth.verify(token)
    assert page not in sessions.ended()

    browser.clock.advance(12 * 3600)  # the token's lifetime
    assert page in sessions.ended()


async def test_a_signed_out_page_has_ended_and_the_login_page_never_does(
    browser: Browser,
) -> None:
    await browser.user.open("/login")
    login_page = browser.user.client
    token = await open_signed_in(browser)
    sessions, page = PageSessions(browser.auth), browser.user.client
    assert sessions.session_of(login_page) is None

    await browser.auth.sign_out(token)
    assert page in sessions.ended()
    assert login_page not in sessions.ended()


async def test_a_page_moved_to_a_fresh_session_stays(browser: Browser) -> None:
    token = await open_signed_in(browser)
    sessions, page = PageSessions(browser.auth), browser.user.client
    fresh = browser.auth.verify(browser.auth.issue_token(browser.users.users["admin"]).token)
    sessions.move(page.id, fresh)
    await browser.auth.sign_out(token)
    assert sessions.session_of(page) == fresh
    assert page not in sessions.ended()
