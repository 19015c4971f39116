"""SettingsAdmin: input rules, live notification channels, NPM password handling, webhook path.

NPM and the notification endpoint are one in-process fake (httpx.MockTransport) that records
what reached it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.admin.settings_admin import GlobalInput, NpmInput, SettingsAdmin
from services.errors import InvalidAuth, ValidationFailed
from services.notify.notifier import Notifier
from tests.support.admin_fakes import Stores, stores
from tests.support.audit import TESTER, audit_log

NPM_PASSWORD = "npm-SECRET-pass"
CERTIFICATES = [
    {"id": 4, "provider": "letsencrypt", "nice_name": "wild", "domain_names": ["*.example.com"]},
]


class FakeOutside:
    """NPM at npm.test (password NPM_PASSWORD) and a notification endpoint at hooks.test."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "hooks.test":
            self.notifications.append(json.loads(request.content))
            return httpx.Response(204)
        path = request.url.path
        if path == "/api/":
            version = {"major": 2, "minor": 15, "revision": 1}
            return httpx.Response(200, json={"status": "OK", "version": version, "setup": True})
        if path == "/api/tokens":
            if json.loads(request.content)["secret"] != NPM_PASSWORD:
                return httpx.Response(401, json={"error": {"message": "Invalid password"}})
            return httpx.Response(200, json={"token": "jwt", "expires": "2999-01-01T00:00:00Z"})
        if path == "/api/nginx/certificates":
            return httpx.Response(200, json=CERTIFICATES)
        return httpx.Response(404, json={"error": {"message": "Not Found"}})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
def outside() -> FakeOutside:
    return FakeOutside()


@pytest.fixture
async def notifier() -> AsyncIterator[Notifier]:
    notifier = Notifier()
    yield notifier
    await notifier.aclose()


@pytest.fixture
async def admin(
    db: Stores, outside: FakeOutside, notifier: Notifier
) -> AsyncIterator[SettingsAdmin]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(outside)) as http:
        yield SettingsAdmin(db.settings, notifier, http, audit_log(db.db))


def test_global_input_names_each_bad_field() -> None:
    bad = {
        "domain": "not a domain",
        "server_ip": "300.1.1.1",
        "network": "-net",
        "subdomain_pattern": "{project}",
        "notification_urls": ["https://ok.test/x", "mailto:me@example.com"],
        "poll_interval": 5,
        "auto_create_allow": [" "],
        "volume_roots": ["data"],
    }
    with pytest.raises(ValidationFailed) as caught:
        GlobalInput.parse(bad)

    found = {e.path: e.message for e in caught.value.errors}
    assert set(found) == {
        "domain",
        "server_ip",
        "network",
        "subdomain_pattern",
        "notification_urls.1",
        "poll_interval",
        "auto_create_allow.0",
        "volume_roots.0",
    }
    assert "{stage}" in found["subdomain_pattern"] and found["poll_interval"] == "must be ≥ 10"


async def test_new_notification_urls_take_effect_without_a_restart(
    admin: SettingsAdmin, outside: FakeOutside
) -> None:
    assert await admin.send_test_notification() == []

    saved = await admin.update_global(
        GlobalInput(domain="example.com", notification_urls=["https://hooks.test/abc"]),
        actor=TESTER,
    )
    results = await admin.send_test_notification()

    assert saved.domain == "example.com"
    assert saved.notification_urls[0].startswith("https://hooks.test/… [saved ")
    assert [r.ok for r in results] == [True]
    assert outside.notifications[0]["event"] == "test"
    assert (await admin.get_global()).domain == "example.com"


def test_subdomain_example_shows_the_stage_and_tag_names(admin: SettingsAdmin) -> None:
    example = admin.subdomain_example("{project}-{stage}", "Example.com")

    assert example == ("web-app-dev.example.com (tag v1.2.0: web-app-dev-v1-2-0.example.com)")
    with pytest.raises(ValidationFailed) as caught:
        admin.subdomain_example("{project}")
    assert caught.value.errors[0].path == "subdomain_pattern"


async def test_npm_password_is_kept_unless_given_and_never_shown(
    admin: SettingsAdmin, db: Stores
) -> None:
    assert not (await admin.get_npm()).has_password
    data = {"url": "http://npm.test:81", "email": "bot@example.com", "password": NPM_PASSWORD}
    await admin.update_npm(NpmInput.parse(data), actor=TESTER)

    view = await admin.update_npm(
        NpmInput.parse({**data, "password": None, "ssl_forced": True}), actor=TESTER
    )

    assert view.has_password and view.ssl_forced and NPM_PASSWORD not in repr(view)
    assert db.settings.npm_password() == NPM_PASSWORD


async def test_npm_test_uses_given_or_stored_credentials(admin: SettingsAdmin) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await admin.test_npm()
    assert caught.value.errors[0].path == "url"

    given = NpmInput(url="http://npm.test:81", email="bot@example.com", password=NPM_PASSWORD)
    assert "2.15.1" in await admin.test_npm(given)
    await admin.update_npm(given, actor=TESTER)
    assert "bot@example.com" in await admin.test_npm()
    assert await admin.test_npm(NpmInput(url="http://npm.test:81", email="bot@example.com"))
    with pytest.raises(InvalidAuth):
        await admin.test_npm(given.model_copy(update={"password": "wrong"}))


async def test_certificates_come_from_the_stored_npm(admin: SettingsAdmin) -> None:
    await admin.update_npm(
        NpmInput(url="http://npm.test:81", email="bot@example.com", password=NPM_PASSWORD),
        actor=TESTER,
    )

    (certificate,) = await admin.certificates()

    assert (certificate.id, certificate.domain_names) == (4, ("*.example.com",))


async def test_regenerating_the_webhook_replaces_its_path(admin: SettingsAdmin) -> None:
    before = await admin.webhook_path()
    after = await admin.regenerate_webhook(actor=TESTER)

    assert before.startswith("/api/webhook/") and after.startswith("/api/webhook/")
    assert after != before and await admin.webhook_path() == after
