"""Signing in through the OIDC provider in a real browser (headless Chromium), real process.

The dashboard is opened as `localhost` and the provider answers on `127.0.0.1`: two sites, so
the round trip is the real cross-site one (the binding cookie must come back on the provider's
top-level redirect, SameSite=Lax).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from services.auth import oidc_sign_in
from services.secrets import SecretBox, generate_key_hex, parse_key
from services.store.db import Database
from services.store.models import AuthMode
from services.store.settings_store import SettingsStore
from tests.integration.test_app_process import ADMIN_PASSWORD, running_app
from tests.integration.test_auth_browser import SIGN_OUT, _type_and_enter
from tests.support.oidc_provider import OidcProvider

PROVIDER_BUTTON = "//button[.//span[contains(., 'Sign in with Test provider')]]"


def configure(data_dir: Path, key: str, **changes: Any) -> None:
    """Write the auth settings into the app's database, as the settings page would."""
    data_dir.mkdir(mode=0o700, exist_ok=True)
    db = Database(path=data_dir / "watcher.db")
    db.migrate()
    try:
        SettingsStore(db=db, box=SecretBox(key=parse_key(key))).update_auth(**changes)
    finally:
        db.close()


def provider_settings(provider: OidcProvider) -> dict[str, Any]:
    return {
        "client_secret": provider.client_secret,
        "mode": AuthMode.BOTH,
        "oidc_discovery_url": provider.discovery_url,
        "oidc_client_id": provider.client_id,
        "oidc_display_name": "Test provider",
        "oidc_default_role": "viewer",
    }


def test_a_person_signs_in_through_the_provider_and_lands_on_the_page_asked_for(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 20)
    data, key = tmp_path / "data", generate_key_hex()
    with OidcProvider(login_form=True) as provider:
        configure(data, key, **provider_settings(provider))
        with running_app(data, ENCRYPTION_KEY=key, ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
            dashboard = url.replace("127.0.0.1", "localhost")
            chrome.get(f"{dashboard}/?tab=1")
            wait.until(lambda c: c.find_elements(By.XPATH, PROVIDER_BUTTON))
            assert chrome.find_elements(By.TAG_NAME, "input")  # "both": the password form too
            chrome.find_element(By.XPATH, PROVIDER_BUTTON).click()

            wait.until(lambda c: c.current_url.startswith(f"{provider.issuer}/authorize"))
            chrome.find_element(By.ID, "username").send_keys(provider.user.username)
            chrome.find_element(By.ID, "password").send_keys(provider.user.password)
            chrome.find_element(By.ID, "submit").click()

            wait.until(lambda c: c.find_elements(By.XPATH, SIGN_OUT))
            assert chrome.current_url == f"{dashboard}/?tab=1"
            cookies = {c["name"]: c for c in chrome.get_cookies()}
            assert cookies["dw_session"]["httpOnly"] and "dw_oidc" not in cookies
            assert "alice" in chrome.page_source
            chrome.get("about:blank")


def test_provider_down_is_said_on_the_login_page_and_passwords_still_work(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 20)
    data, key = tmp_path / "data", generate_key_hex()
    with OidcProvider(login_form=True) as provider:
        configure(data, key, **provider_settings(provider))
        provider.stop()
        with running_app(data, ENCRYPTION_KEY=key, ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
            chrome.get(f"{url}/login")
            wait.until(lambda c: c.find_elements(By.XPATH, PROVIDER_BUTTON))
            chrome.find_element(By.XPATH, PROVIDER_BUTTON).click()
            wait.until(lambda c: oidc_sign_in.PROVIDER_DOWN in c.page_source)
            assert chrome.current_url.startswith(f"{url}/login?")

            _type_and_enter(chrome, "admin", ADMIN_PASSWORD)
            wait.until(lambda c: c.find_elements(By.XPATH, SIGN_OUT))
            chrome.get("about:blank")


def test_oidc_only_mode_shows_only_the_provider_button(tmp_path: Path, chrome: WebDriver) -> None:
    wait = WebDriverWait(chrome, 20)
    data, key = tmp_path / "data", generate_key_hex()
    with OidcProvider(login_form=True) as provider:
        configure(data, key, **{**provider_settings(provider), "mode": AuthMode.OIDC})
        with running_app(data, ENCRYPTION_KEY=key, ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
            chrome.get(f"{url}/login")
            wait.until(lambda c: c.find_elements(By.XPATH, PROVIDER_BUTTON))
            assert chrome.find_elements(By.TAG_NAME, "input") == []
            chrome.get("about:blank")
