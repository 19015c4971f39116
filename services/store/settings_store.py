"""The single-row settings (global, NPM, auth) and installation facts (app_state)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from services.secrets import SecretBox, is_encrypted
from services.store.base import apply_changes
from services.store.db import Database
from services.store.models import AppState, AuthSettings, GlobalSettings, NpmSettings, utcnow

WEBHOOK_CONTEXT = "webhook.secret"
NPM_PASSWORD_CONTEXT = "npm.password"  # noqa: S105 (a label, not a secret)
OIDC_SECRET_CONTEXT = "oidc.client_secret"  # noqa: S105 (a label, not a secret)
NOTIFY_URL_CONTEXT = "notify.url"


class SettingsStore:
    """Reads and writes the settings rows, creating them with defaults on first use."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def _global(self, session: Session) -> GlobalSettings:
        row = session.get(GlobalSettings, 1)
        if row is None:
            row = GlobalSettings(id=1)
            row.webhook_secret_enc = self._box.encrypt(str(uuid.uuid4()), WEBHOOK_CONTEXT)
            session.add(row)
            session.flush()
        elif not all(is_encrypted(u) for u in row.notification_urls):
            # Rows written before URLs were sealed (migration 0003 has no key): seal them now.
            row.notification_urls = self._seal_urls(row.notification_urls)
            session.add(row)
            session.flush()
        return row

    def _seal_urls(self, urls: list[str]) -> list[str]:
        """Ciphertexts kept as they are, plain URLs sealed."""
        return [u if is_encrypted(u) else self._box.encrypt(u, NOTIFY_URL_CONTEXT) for u in urls]

    def get_global(self) -> GlobalSettings:
        with self._db.session() as session:
            return self._global(session)

    def update_global(
        self, *, notification_urls: list[str] | None = None, **changes: Any
    ) -> GlobalSettings:
        """Update; `notification_urls` holds plain URLs (sealed here) or stored ciphertexts."""
        if notification_urls is not None:
            changes["notification_urls"] = self._seal_urls(notification_urls)
        with self._db.session() as session:
            row = self._global(session)
            apply_changes(row, {**changes, "updated_at": utcnow()})
            session.add(row)
            return row

    def notification_urls(self) -> list[tuple[str, str]]:
        """Each notification URL as (stored ciphertext, plain URL): for the notifier and masks."""
        sealed = self.get_global().notification_urls
        return [(enc, self._box.decrypt(enc, NOTIFY_URL_CONTEXT)) for enc in sealed]

    def webhook_secret(self) -> str:
        """The plaintext secret of the webhook URL (generated on first use)."""
        row = self.get_global()
        assert row.webhook_secret_enc is not None
        return self._box.decrypt(row.webhook_secret_enc, WEBHOOK_CONTEXT)

    def regenerate_webhook_secret(self) -> str:
        """A new random secret; the old URL stops working at once."""
        fresh = str(uuid.uuid4())
        self.update_global(webhook_secret_enc=self._box.encrypt(fresh, WEBHOOK_CONTEXT))
        return fresh

    def get_npm(self) -> NpmSettings:
        with self._db.session() as session:
            return session.get(NpmSettings, 1) or NpmSettings(id=1)

    def npm_password(self) -> str | None:
        row = self.get_npm()
        if not row.password_enc:
            return None
        return self._box.decrypt(row.password_enc, NPM_PASSWORD_CONTEXT)

    def update_npm(self, *, password: str | None = None, **changes: Any) -> NpmSettings:
        """Update NPM settings; `password` None keeps the stored one."""
        with self._db.session() as session:
            row = session.get(NpmSettings, 1) or NpmSettings(id=1)
            if password is not None:
                changes["password_enc"] = self._box.encrypt(password, NPM_PASSWORD_CONTEXT)
            apply_changes(row, {**changes, "updated_at": utcnow()})
            session.add(row)
            return row

    def get_auth(self) -> AuthSettings:
        with self._db.session() as session:
            return session.get(AuthSettings, 1) or AuthSettings(id=1)

    def oidc_client_secret(self) -> str | None:
        row = self.get_auth()
        if not row.oidc_client_secret_enc:
            return None
        return self._box.decrypt(row.oidc_client_secret_enc, OIDC_SECRET_CONTEXT)

    def update_auth(self, *, client_secret: str | None = None, **changes: Any) -> AuthSettings:
        with self._db.session() as session:
            row = session.get(AuthSettings, 1) or AuthSettings(id=1)
            if client_secret is not None:
                changes["oidc_client_secret_enc"] = self._box.encrypt(
                    client_secret, OIDC_SECRET_CONTEXT
                )
            apply_changes(row, changes)
            session.add(row)
            return row

    def installation_id(self) -> str:
        """A random id made on first use, labelled on every container this installation starts."""
        current = self.get_state("installation_id")
        if current:
            return current
        fresh = uuid.uuid4().hex[:12]
        with self._db.session() as session:
            if session.get(AppState, "installation_id") is None:
                session.add(AppState(key="installation_id", value=fresh))
        return self.get_state("installation_id") or fresh

    def get_state(self, key: str) -> str | None:
        with self._db.session() as session:
            row = session.get(AppState, key)
            return row.value if row else None
