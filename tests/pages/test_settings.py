"""/settings in a simulated browser: global settings, notifications, webhook URL, export/import."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import yaml
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload

from tests.pages.conftest import ConfigSite
from tests.support.auth_fakes import ADMIN_PASSWORD

IMAGE = {"image": "registry.test/demo/web:v1"}


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until `condition` holds (checked every 20 ms), failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def element(site: ConfigSite, marker: str) -> ui.element:
    (found,) = site.user.find(marker=marker).elements
    return found


def text_field(site: ConfigSite, marker: str) -> ui.input | ui.textarea:
    field = element(site, marker)
    assert isinstance(field, ui.input | ui.textarea)
    return field


async def test_pattern_example_is_live_and_a_bad_value_is_refused_at_its_field(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/settings")
    await site.user.should_see("Example: stage-dev-web-app.example.com")
    text_field(site, "global-domain").value = "apps.test"
    text_field(site, "global-subdomain_pattern").value = "{project}-{stage}"
    await site.user.should_see("Example: web-app-dev.apps.test")
    text_field(site, "global-subdomain_pattern").value = "{project}"
    await site.user.should_see("Not a valid pattern")

    text_field(site, "global-subdomain_pattern").value = "{project}-{stage}"
    text_field(site, "global-volume_roots").value = "relative/path"
    site.user.find(marker="global-save").click()
    await until(lambda: text_field(site, "global-volume_roots").error)
    assert site.stores.settings.get_global().domain == ""

    text_field(site, "global-volume_roots").value = "/srv/data\n/data"
    site.user.find(marker="global-save").click()
    await site.user.should_see("Settings saved.")
    saved = site.stores.settings.get_global()
    assert (saved.domain, saved.subdomain_pattern) == ("apps.test", "{project}-{stage}")
    assert saved.volume_roots == ["/srv/data", "/data"]


async def test_send_test_reports_each_url(config_site: ConfigSite) -> None:
    site = config_site
    await site.user.open("/settings")
    site.user.find(marker="notify-test").click()
    await site.user.should_see("No notification URL saved yet")
    text_field(site, "notify-urls").value = "http://127.0.0.1:9/hook"
    text_field(site, "global-domain").value = "not saved.example"  # the other card's field
    site.user.find(marker="notify-save").click()
    await site.user.should_see("Settings saved.")
    urls = site.stores.settings.notification_urls()
    assert [plain for _, plain in urls] == ["http://127.0.0.1:9/hook"]
    assert site.stores.settings.get_global().domain == ""
    site.user.find(marker="notify-test").click()
    await site.user.should_see("failed:", retries=50)


async def test_regenerate_asks_then_the_old_url_stops_working(config_site: ConfigSite) -> None:
    site = config_site
    await site.user.open("/settings")
    old = text_field(site, "webhook-url").value
    assert old.startswith("http://test/api/webhook/")
    assert old.endswith(site.stores.settings.webhook_secret())
    site.user.find(marker="webhook-copy").click()
    await site.user.should_see("Webhook URL copied.")

    site.user.find(marker="webhook-regenerate").click()
    await site.user.should_see("Regenerate the webhook URL?")
    site.user.find(marker="confirm").click()
    await site.user.should_see("New webhook URL made; the old one no longer works.")
    new = text_field(site, "webhook-url").value
    assert new != old and new.endswith(site.stores.settings.webhook_secret())
    client = site.user.http_client
    assert (await client.post(old.removeprefix("http://test"), json=IMAGE)).status_code == 404
    assert (await client.post(new.removeprefix("http://test"), json=IMAGE)).status_code == 202


async def test_export_downloads_yaml_without_secrets_unless_asked(config_site: ConfigSite) -> None:
    site = config_site
    site.stores.registries.create(name="gitea", url="https://git.test", token="tok-123")
    site.stores.projects.create(name="web", image="git.test/me/web", port=3000)
    await site.user.open("/settings")
    site.user.find(marker="export").click()
    response = await site.user.download.next()
    document = yaml.safe_load(response.content)
    assert document["projects"]["web"]["port"] == 3000
    assert "token" not in document["registries"]["gitea"]

    site.user.find(marker="export-secrets").click()
    site.user.find(marker="export").click()
    response = await site.user.download.next()
    token = yaml.safe_load(response.content)["registries"]["gitea"]["token"]
    assert token.startswith("v1:") and "tok-123" not in response.text


async def test_reimport_lists_every_error_then_imports_a_fixed_file(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/settings")
    (upload,) = site.user.find(kind=ui.upload).elements
    bad = b"projects:\n  web:\n    image: git.test/me/web\n    port: 70000\n    colour: red\n"
    await upload.handle_uploads([SmallFileUpload("config.yaml", "text/yaml", bad)])
    await site.user.should_see("config.yaml was not imported; nothing changed.", retries=50)
    await site.user.should_see("projects.web.port")
    await site.user.should_see("projects.web.colour")
    assert site.stores.projects.all() == []

    good = b"global:\n  domain: imported.test\nprojects:\n  web:\n    image: git.test/me/web\n"
    await upload.handle_uploads([SmallFileUpload("config.yaml", "text/yaml", good)])
    await site.user.should_see("Imported config.yaml.", retries=50)
    await site.user.should_see("Projects: web")
    assert [p.name for p in site.stores.projects.all()] == ["web"]
    # the report shows first; the cards are rebuilt from the imported settings right after
    await until(lambda: text_field(site, "global-domain").value == "imported.test")


async def test_edit_registry_keeps_the_token_and_may_save_untested(
    config_site: ConfigSite,
) -> None:
    site = config_site
    site.stores.registries.create(name="down", url="http://127.0.0.1:9", token="kept-token")
    await site.user.open("/settings")
    site.user.find(marker="reg-edit-down").click()
    await site.user.should_see(marker="reg-username")
    assert text_field(site, "reg-token").value in ("", None)
    text_field(site, "reg-username").value = "ci"
    site.user.find(marker="reg-save").click()
    await site.user.should_see("Test connection: Could not connect", retries=50)
    assert site.stores.registries.all()[0].username == ""

    site.user.find(marker="reg-save-anyway").click()
    await site.user.should_see("Registry saved.")
    (saved,) = site.stores.registries.all()
    assert saved.username == "ci"
    assert site.stores.registries.token(saved) == "kept-token"


async def test_password_change_checks_the_fields_then_stores_the_new_password(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/settings")
    await site.user.should_see("Signed in as admin.", retries=50)
    text_field(site, "current_password").value = ADMIN_PASSWORD
    text_field(site, "new_password").value = "a much better secret"
    text_field(site, "repeat_password").value = "a much better secreT"
    site.user.find(marker="password-change").click()
    await until(lambda: text_field(site, "repeat_password").error == "does not match")

    text_field(site, "current_password").value = "not the password"
    text_field(site, "new_password").value = "a much better secret"
    text_field(site, "repeat_password").value = "a much better secret"
    site.user.find(marker="password-change").click()
    await until(lambda: text_field(site, "current_password").error == "is not right")
    assert await site.auth.authenticate("admin", ADMIN_PASSWORD)  # unchanged

    text_field(site, "current_password").value = ADMIN_PASSWORD
    text_field(site, "new_password").value = "a much better secret"
    text_field(site, "repeat_password").value = "a much better secret"
    site.user.find(marker="password-change").click()
    hashed = _password_hash(site)
    await until(lambda: _password_hash(site) != hashed)
    assert await site.auth.authenticate("admin", "a much better secret")
    await site.user.should_see("Signed in as admin.")  # back on the page with a new session


async def test_saved_notification_urls_are_masked_and_kept_when_left_as_shown(
    config_site: ConfigSite,
) -> None:
    site = config_site
    secret_url = "https://hooks.slack.test/services/Slack-Page-Token-77"
    site.stores.settings.update_global(notification_urls=[secret_url])
    await site.user.open("/settings")
    shown = text_field(site, "notify-urls").value or ""
    assert "Slack-Page-Token" not in shown and shown.startswith("https://hooks.slack.test/… ")
    text_field(site, "notify-urls").value = f"{shown}\nhttp://127.0.0.1:9/new"
    site.user.find(marker="notify-save").click()
    await site.user.should_see("Settings saved.")
    urls = [plain for _, plain in site.stores.settings.notification_urls()]
    assert urls == [secret_url, "http://127.0.0.1:9/new"]


def _password_hash(site: ConfigSite) -> str:
    admin = site.stores.users.by_username("admin")
    assert admin is not None and admin.password_hash is not None
    return admin.password_hash
