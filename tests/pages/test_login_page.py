"""The login page in a simulated browser: redirect to it, sign in with Enter, errors, sign out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui

from tests.pages.conftest import Browser
from tests.support.auth_fakes import ADMIN_PASSWORD

NAVIGATION = 30  # should_see attempts (0.1 s apart) while a navigation completes


async def sign_in(browser: Browser, password: str = ADMIN_PASSWORD) -> None:
    browser.user.find("Username").clear().type("admin")
    browser.user.find("Password").type(password).trigger("keydown.enter")


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition` holds (checked every 20 ms), failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def password_field(browser: Browser) -> ui.input:
    field = browser.user.find("Password").elements.pop()
    assert isinstance(field, ui.input)
    return field


async def test_visitor_is_sent_to_login_and_signs_in_with_enter(browser: Browser) -> None:
    await browser.user.open("/")
    await browser.user.should_see("Sign in to continue")
    await browser.user.should_not_see("Dashboard")
    await sign_in(browser)
    await browser.user.should_see("Dashboard", retries=NAVIGATION)
    await browser.user.should_see("admin")
    await browser.user.should_see("Sign out")


async def test_wrong_password_says_so_and_clears_the_field(browser: Browser) -> None:
    await browser.user.open("/login")
    await sign_in(browser, "not the password")
    await browser.user.should_see("Invalid username or password.")
    assert password_field(browser).value == ""
    await browser.user.open("/")
    await browser.user.should_see("Sign in to continue")  # still not signed in


async def test_empty_fields_are_pointed_out(browser: Browser) -> None:
    await browser.user.open("/login")
    browser.user.find(marker="sign-in").click()
    await browser.user.should_see("Enter your username and password.")


async def test_repeated_failures_tell_when_to_try_again(browser: Browser) -> None:
    await browser.user.open("/login")
    for _ in range(5):
        await sign_in(browser, "guess")
        await eventually(lambda: password_field(browser).value == "")  # this attempt failed
    await browser.user.should_see("Invalid username or password.")
    await sign_in(browser)
    await browser.user.should_see("Too many failed sign-ins. Try again in 1 s.")


async def test_sign_in_returns_to_the_page_asked_for(browser: Browser) -> None:
    @ui.page("/projects")
    def projects() -> None:
        ui.label("All projects")

    await browser.user.open("/projects")
    await browser.user.should_see("Sign in to continue")
    await sign_in(browser)
    await browser.user.should_see("All projects", retries=NAVIGATION)


async def test_an_off_site_next_is_ignored(browser: Browser) -> None:
    await browser.user.open("/login?next=https%3A%2F%2Fevil.example%2F")
    await sign_in(browser)
    await browser.user.should_see("Dashboard", retries=NAVIGATION)


async def test_sign_out_form_posts_to_logout_and_ends_the_session(browser: Browser) -> None:
    await browser.user.open("/login")
    await sign_in(browser)
    await browser.user.should_see("Sign out", retries=NAVIGATION)
    button = browser.user.find("Sign out").elements.pop()
    form = button.parent_slot.parent if button.parent_slot else None
    assert form is not None and form.tag == "form"
    assert form.props["method"] == "post" and form.props["action"] == "/api/auth/logout"
    assert button.props["type"] == "submit"
    # What the browser does with that form (the simulation does not submit native forms):
    answer = await browser.user.http_client.post(
        "/api/auth/logout", headers={"Accept": "text/html"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    await browser.user.open("/")
    await browser.user.should_see("Sign in to continue")


async def test_an_expired_session_leads_back_to_login(browser: Browser) -> None:
    await browser.user.open("/login")
    await sign_in(browser)
    await browser.user.should_see("Dashboard", retries=NAVIGATION)
    browser.clock.advance(12 * 3600)
    await browser.user.open("/")
    await browser.user.should_see("Sign in to continue")


async def test_the_provider_button_sits_beside_the_password_form(browser: Browser) -> None:
    browser.modes.oidc, browser.modes.display_name = True, "Corp SSO"
    await browser.user.open("/login?next=/projects")
    await browser.user.should_see("Sign in with Corp SSO")
    await browser.user.should_see("Username")
    await browser.user.should_not_see(marker="sign-in-error")


async def test_oidc_only_shows_the_button_and_why_a_sign_in_failed(browser: Browser) -> None:
    browser.modes.password, browser.modes.oidc = False, True
    browser.modes.display_name = "Corp SSO"
    browser.modes.notes["k1"] = "Your account is not allowed to sign in to this dashboard."
    await browser.user.open("/login?oidc_error=k1")
    await browser.user.should_see("Sign in with Corp SSO")
    await browser.user.should_see("Your account is not allowed to sign in to this dashboard.")
    await browser.user.should_not_see("Username")
    await browser.user.open("/login?oidc_error=unknown-key")  # a made-up key shows nothing
    await browser.user.should_not_see("not allowed")


async def test_the_password_form_refuses_once_the_mode_is_oidc_only(browser: Browser) -> None:
    await browser.user.open("/login")
    browser.modes.password, browser.modes.oidc = False, True  # changed after the page opened
    await sign_in(browser)
    await browser.user.should_see("Password sign-in is turned off.")
    await browser.user.open("/")
    await browser.user.should_see("Sign in to continue")  # still not signed in
