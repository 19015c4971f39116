"""Settings' Test connection against the real test registry and the NPM emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui

from tests.pages.conftest import ConfigSite
from tests.support.listener import Listener
from tests.support.npm_emulator import NpmEmulator
from tests.support.registry_server import RegistryServer

pytest_plugins = ["tests.support.npm_fixtures"]
pytestmark = pytest.mark.integration
WAIT = 50  # should_see attempts (0.1 s apart) for a round trip to a real server


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def fill(site: ConfigSite, values: dict[str, str]) -> None:
    for marker, value in values.items():
        (field,) = site.user.find(marker=marker).elements
        assert isinstance(field, ui.input)
        field.value = value


async def test_add_registry_tests_before_saving_and_tests_again_from_the_list(
    config_site: ConfigSite, registry: RegistryServer
) -> None:
    site = config_site
    await site.user.open("/settings")
    await site.user.should_see(marker="reg-empty")
    site.user.find(marker="reg-add").click()
    await site.user.should_see(marker="reg-name")
    form = {"reg-name": "local", "reg-url": registry.url, "reg-username": registry.username}
    fill(site, form | {"reg-token": "wrong-password"})
    site.user.find(marker="reg-save").click()
    await site.user.should_see("Test connection: The credentials were refused", retries=WAIT)
    await site.user.should_see(marker="reg-save-anyway")
    assert site.stores.registries.all() == []

    fill(site, {"reg-token": registry.password})
    site.user.find(marker="reg-save").click()
    await site.user.should_see("Registry saved.", retries=WAIT)
    (saved,) = site.stores.registries.all()
    assert site.stores.registries.token(saved) == registry.password
    await site.user.should_not_see(registry.password)

    site.user.find(marker="reg-test-local").click()
    await site.user.should_see(f"Connected to {registry.host}", retries=WAIT)


async def test_delete_registry_asks_first(config_site: ConfigSite) -> None:
    site = config_site
    site.stores.registries.create(name="old", url="https://old.test")
    await site.user.open("/settings")
    site.user.find(marker="reg-delete-old").click()
    await site.user.should_see("Delete registry old?")
    site.user.find(marker="confirm").click()
    await site.user.should_see("Registry old deleted.")
    assert site.stores.registries.all() == []
    await site.user.should_see(marker="reg-empty")


async def test_npm_test_connection_and_certificate_choice(
    config_site: ConfigSite, npm_emulator: NpmEmulator
) -> None:
    site = config_site
    expires = datetime.now(UTC) + timedelta(days=60)
    cert = npm_emulator.api.add_certificate(["*.apps.test"], expires, "wildcard", "letsencrypt")
    await site.user.open("/settings")
    fill(site, {"npm-url": npm_emulator.url, "npm-email": npm_emulator.email})
    fill(site, {"npm-password": "not the password"})
    site.user.find(marker="npm-test").click()
    await site.user.should_see("Test connection: The credentials were refused", retries=WAIT)

    fill(site, {"npm-password": npm_emulator.password})
    site.user.find(marker="npm-test").click()
    await site.user.should_see("Connected to Nginx Proxy Manager", retries=WAIT)
    site.user.find(marker="npm-save").click()
    await site.user.should_see("NPM settings saved.", retries=WAIT)
    assert site.stores.settings.npm_password() == npm_emulator.password

    site.user.find(marker="npm-certs").click()
    await site.user.should_see("1 certificate(s) found in NPM.", retries=WAIT)
    (choice,) = site.user.find(marker="npm-certificate_id").elements
    assert isinstance(choice, ui.select) and cert in choice.options
    choice.value = cert
    site.user.find(marker="npm-save").click()
    await until(lambda: site.stores.settings.get_npm().certificate_id == cert)


async def test_a_new_npm_address_needs_the_password_typed_again(
    config_site: ConfigSite, npm_emulator: NpmEmulator
) -> None:
    site = config_site
    site.stores.settings.update_npm(
        url=npm_emulator.url, email=npm_emulator.email, password=npm_emulator.password
    )
    await site.user.open("/settings")
    (password,) = site.user.find(marker="npm-password").elements
    assert isinstance(password, ui.input)
    with Listener() as listener:
        fill(site, {"npm-url": listener.url})
        site.user.find(marker="npm-test").click()
        await until(lambda: password.error)
        assert "type the password again" in (password.error or "")
        site.user.find(marker="npm-save").click()
        await site.user.should_see(marker="npm-save-anyway")
        site.user.find(marker="npm-save-anyway").click()
        await site.user.should_see("type the password again")

    assert listener.requests == []
    assert site.stores.settings.get_npm().url == npm_emulator.url
    await site.user.should_not_see("NPM settings saved.")


async def test_npm_wrong_port_and_certificate_warnings(
    config_site: ConfigSite, npm_emulator: NpmEmulator
) -> None:
    site = config_site
    site.stores.settings.update_global(domain="apps.test")
    soon = datetime.now(UTC) + timedelta(days=3)
    npm_emulator.add_certificate(["shop.example.net"], expires_on=soon, nice_name="shop")
    await site.user.open("/settings")
    proxy_port = f"http://127.0.0.1:{npm_emulator.nginx_port}"  # NPM's nginx, not its API
    fill(site, {"npm-url": proxy_port, "npm-email": npm_emulator.email})
    fill(site, {"npm-password": npm_emulator.password})
    site.user.find(marker="npm-test").click()
    await site.user.should_see("wrong port or path", retries=WAIT)
    assert npm_emulator.logins == 0  # the password never went to the wrong address

    fill(site, {"npm-url": npm_emulator.url, "npm-password": npm_emulator.password})
    site.user.find(marker="npm-save").click()
    await site.user.should_see("NPM settings saved.", retries=WAIT)
    site.user.find(marker="npm-certs").click()
    await site.user.should_see("1 certificate(s) found in NPM.", retries=WAIT)
    await site.user.should_see("certificate #1 (shop.example.net) expires on", retries=WAIT)
    await site.user.should_see("no valid certificate in NPM covers *.apps.test", retries=WAIT)
