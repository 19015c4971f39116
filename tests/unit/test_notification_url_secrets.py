"""Notification URLs carry tokens (Slack, Discord, ntfy): sealed at rest, masked when shown.

The admin service runs over the real stores and a migrated SQLite file; the notification
endpoint is an in-process fake recording what reached it, so delivery with the real URL is
checked too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.admin.settings_admin import GlobalInput, SettingsAdmin
from services.errors import ValidationFailed
from services.notify.notifier import Notifier
from services.secrets import SecretBox
from services.store.db import MIGRATIONS_DIR, Database
from services.store.settings_store import SettingsStore
from tests.support.admin_fakes import Stores, stores
from tests.support.audit import TESTER, audit_log

TOKEN = "Sl4ck-T0ken-9f8e7d6c"
URL = f"https://hooks.test/services/{TOKEN}"
OTHER = "https://ntfy.test/alerts?auth=Ntfy-Auth-1a2b3c"


def raw_database(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*.db*") if p.is_file())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
async def admin(db: Stores) -> AsyncIterator[tuple[SettingsAdmin, list[str]]]:
    reached: list[str] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        return httpx.Response(204)

    notifier = Notifier()
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
        yield SettingsAdmin(db.settings, notifier, http, audit_log(db.db)), reached
    await notifier.aclose()


async def test_urls_are_stored_sealed_shown_masked_and_still_delivered(
    admin: tuple[SettingsAdmin, list[str]], tmp_path: Path
) -> None:
    service, reached = admin
    saved = await service.update_global(GlobalInput(notification_urls=[URL, OTHER]), actor=TESTER)
    shown = await service.get_global()
    results = await service.send_test_notification()

    assert TOKEN.encode() not in raw_database(tmp_path)
    assert b"Ntfy-Auth" not in raw_database(tmp_path)
    assert TOKEN not in repr(saved) and "Ntfy-Auth" not in repr(shown)
    assert shown.notification_urls[0].startswith("https://hooks.test/… [saved ")
    assert shown.notification_urls[1].startswith("https://ntfy.test/… [saved ")
    assert [r.ok for r in results] == [True, True]
    assert sorted(reached) == sorted([URL, OTHER])  # the notifier reveals the real URLs


async def test_a_mask_sent_back_keeps_that_url_and_a_new_url_replaces(
    admin: tuple[SettingsAdmin, list[str]], db: Stores
) -> None:
    service, _ = admin
    masks = (
        await service.update_global(GlobalInput(notification_urls=[URL, OTHER]), actor=TESTER)
    ).notification_urls
    new = "https://discord.test/api/webhooks/1/Disc-Token"

    kept = await service.update_global(GlobalInput(notification_urls=[masks[1], new]), actor=TESTER)

    assert [plain for _, plain in db.settings.notification_urls()] == [OTHER, new]
    assert kept.notification_urls[0] == masks[1]
    with pytest.raises(ValidationFailed) as gone:
        await service.update_global(GlobalInput(notification_urls=[new, masks[0]]), actor=TESTER)
    assert gone.value.errors[0].path == "notification_urls.1"
    assert [plain for _, plain in db.settings.notification_urls()] == [OTHER, new]


def test_plain_urls_from_before_the_upgrade_keep_working_and_end_sealed(tmp_path: Path) -> None:
    """Migration 0003 has no key: the store seals URLs stored in plain on its first read."""
    database = Database(tmp_path / "watcher.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO global_settings (id, domain, server_ip, network, subdomain_pattern,"
                " notification_urls, poll_interval, auto_create_allow, volume_roots, updated_at)"
                " VALUES (1, '', '', 'n', 'p', :urls, 300, '[]', '[]', '2026-01-01 00:00:00')"
            ),
            {"urls": f'["{URL}"]'},
        )
    database.migrate()
    settings = SettingsStore(database, SecretBox(bytes(range(32))))

    assert [plain for _, plain in settings.notification_urls()] == [URL]
    with database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT notification_urls FROM global_settings")
        ).scalar_one()
    assert TOKEN not in stored and stored.startswith('["v1:')
    database.close()
