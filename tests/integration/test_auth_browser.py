"""Sign-in in a real browser (headless Chromium) against the real process.

What the simulated `User` cannot show: Enter in the real input submits, the hand-off route's
cookie lands in the browser as HttpOnly, and the header's native Sign out form posts.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.test_app_process import ADMIN_PASSWORD, running_app

SIGN_OUT = "//button[.//span[contains(., 'Sign out')]]"


def _type_and_enter(chrome: WebDriver, username: str, password: str) -> None:
    """Fill what is empty (a failed attempt keeps the username) and press Enter."""
    name, secret = chrome.find_elements(By.TAG_NAME, "input")[:2]
    if not name.get_attribute("value"):
        name.send_keys(username)
    secret.send_keys(password, Keys.ENTER)


def test_browser_signs_in_with_enter_and_out_with_the_header_form(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 15)
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        chrome.get(f"{url}/?tab=1")
        wait.until(lambda c: "Sign in to continue" in c.page_source)
        assert chrome.current_url == f"{url}/login?next=%2F%3Ftab%3D1"

        _type_and_enter(chrome, "admin", "wrong password")
        wait.until(lambda c: "Invalid username or password." in c.page_source)
        _type_and_enter(chrome, "admin", ADMIN_PASSWORD)
        wait.until(lambda c: c.find_elements(By.XPATH, SIGN_OUT))
        assert chrome.current_url == f"{url}/?tab=1"
        session = next(c for c in chrome.get_cookies() if c["name"] == "dw_session")
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        assert "dw_session" not in chrome.execute_script("return document.cookie")

        chrome.find_element(By.XPATH, SIGN_OUT).click()
        wait.until(lambda c: c.current_url == f"{url}/login")
        assert all(c["name"] != "dw_session" for c in chrome.get_cookies())
        chrome.get(f"{url}/")
        wait.until(lambda c: "Sign in to continue" in c.page_source)
        chrome.get("about:blank")  # close the page's websocket before the app shuts down


def _sign_in_to_settings(chrome: WebDriver, url: str, wait: WebDriverWait[WebDriver]) -> str:
    """A session from the real login route as the browser's cookie, /settings open on a live
    socket; answers the session token."""
    answer = httpx.post(
        f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    chrome.get(f"{url}/healthz")
    token = str(answer.json()["token"])
    chrome.add_cookie({"name": "dw_session", "value": token, "path": "/"})
    chrome.get(f"{url}/settings")
    wait.until(lambda c: "Signed in as admin." in c.page_source)
    wait.until(lambda c: c.execute_script("return window.did_handshake === true"))
    return token


def test_an_open_page_goes_to_the_login_when_its_session_is_signed_out_elsewhere(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 15)
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        token = _sign_in_to_settings(chrome, url, wait)
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{url}/api/auth/logout", headers=bearer).status_code == 200

        wait.until(lambda c: "Sign in to continue" in c.page_source)
        assert chrome.current_url == f"{url}/login"
        chrome.get("about:blank")


def _field(chrome: WebDriver, label: str) -> WebElement:
    return chrome.find_element(By.XPATH, f"//label[.//*[normalize-space(text())='{label}']]//input")


def test_a_password_change_keeps_this_browser_signed_in_on_the_settings_page(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 15)
    new_password = "a much better secret"
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        old = _sign_in_to_settings(chrome, url, wait)
        _field(chrome, "Current password").send_keys(ADMIN_PASSWORD)
        _field(chrome, "New password (at least 8 characters)").send_keys(new_password)
        _field(chrome, "New password again").send_keys(new_password)
        chrome.find_element(By.XPATH, "//button[.//span[contains(., 'Change password')]]").click()

        wait.until(lambda c: _session_cookie(c) not in {None, old})
        wait.until(lambda c: c.current_url == f"{url}/settings" and "Signed in as" in c.page_source)
        wait.until(lambda c: c.execute_script("return window.did_handshake === true"))
        bearer = {"Authorization": f"Bearer {old}"}
        assert httpx.get(f"{url}/api/projects", headers=bearer).status_code == 401
        chrome.get("about:blank")


def _session_cookie(chrome: WebDriver) -> str | None:
    return next((c["value"] for c in chrome.get_cookies() if c["name"] == "dw_session"), None)
