"""Sign-in in a real browser (headless Chromium) against the real process.

What the simulated `User` cannot show: Enter in the real input submits, the hand-off route's
cookie lands in the browser as HttpOnly, and the header's native Sign out form posts.
"""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
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
