"""Installation settings as the settings page and the REST API change them.

Global settings, NPM (its password is never returned: `has_password`), notifications (a new URL
list takes effect at once, without a restart) and the webhook URL's secret. NPM credentials can
be tested before they are saved; the stored password is only ever sent to the address it was
saved with (a new address needs it typed again).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import Field

from services import credential_scope, subdomains, url_mask
from services.admin.inputs import InputModel
from services.audit.changes import fields_of, record_change
from services.audit.log import Actor, AuditLog, Target
from services.errors import FieldError, ValidationFailed
from services.fields import (
    GLOBAL_DEFAULTS,
    NPM_DEFAULTS,
    AuditRetention,
    AutoCreateAllow,
    CertificateId,
    Domain,
    Email,
    NamedVolumes,
    NetworkName,
    NotificationUrlsOrMasks,
    NpmPassword,
    NpmUrl,
    PollInterval,
    RollbackKeep,
    ServerIp,
    SubdomainPattern,
    VolumeRoots,
)
from services.notify import notifier as notify
from services.notify.notifier import ChannelResult, Notifier
from services.npm.certificates import certificate_warnings
from services.npm.client import NpmClient
from services.npm.values import Certificate
from services.store.models import GlobalSettings, NpmSettings
from services.store.settings_store import SettingsStore

WEBHOOK_PREFIX = "/api/webhook/"
EXAMPLE_PROJECT, EXAMPLE_STAGE, EXAMPLE_TAG = "web-app", "dev", "v1.2.0"


class GlobalInput(InputModel):
    """The whole global section, as the settings form sends it."""

    domain: Domain = Field(GLOBAL_DEFAULTS.domain, description="e.g. example.com")
    server_ip: ServerIp = GLOBAL_DEFAULTS.server_ip
    network: NetworkName = Field(
        GLOBAL_DEFAULTS.network, description="Docker network shared with NPM (created when missing)"
    )
    subdomain_pattern: SubdomainPattern = Field(
        GLOBAL_DEFAULTS.subdomain_pattern,
        description="placeholders {stage}, {project}, optional {tag}",
    )
    notification_urls: NotificationUrlsOrMasks = Field(
        [],
        description="each gets a JSON POST per notification; a saved URL's mask as returned "
        "(`https://host/… [saved 1a2b3c4d]`) keeps that URL",
    )
    poll_interval: PollInterval = Field(GLOBAL_DEFAULTS.poll_interval, description="seconds")
    auto_create_allow: AutoCreateAllow = Field(
        [], description="repository globs the webhook may create projects for"
    )
    volume_roots: VolumeRoots = Field([], description="host folders volumes may use")
    named_volumes: NamedVolumes = Field(
        [], description="globs of Docker volume names projects may mount, e.g. app-*"
    )
    rollback_keep: RollbackKeep = Field(
        GLOBAL_DEFAULTS.rollback_keep,
        description="successful digests per stage whose images image clean-up keeps for rollback",
    )
    audit_retention_days: AuditRetention = Field(
        GLOBAL_DEFAULTS.audit_retention_days,
        description="days the audit log keeps its rows (older ones are purged)",
    )


class NpmInput(InputModel):
    url: NpmUrl = Field(
        NPM_DEFAULTS.url, description="e.g. http://npm:81; empty: no proxy hosts are made"
    )
    email: Email = NPM_DEFAULTS.email
    password: NpmPassword | None = Field(
        None, description="null keeps the stored password (same address only)"
    )
    certificate_id: CertificateId | None = Field(
        NPM_DEFAULTS.certificate_id,
        description="NPM certificate for new hosts; a stage's own choice wins over it; null: "
        "a valid certificate NPM holds for each host's name (exact, then wildcard), or none",
    )
    ssl_forced: bool = NPM_DEFAULTS.ssl_forced


@dataclass(frozen=True)
class GlobalView:
    domain: str
    server_ip: str
    network: str
    subdomain_pattern: str
    notification_urls: tuple[str, ...]  # masked: `https://host/… [saved 1a2b3c4d]`
    poll_interval: int
    auto_create_allow: tuple[str, ...]
    volume_roots: tuple[str, ...]
    named_volumes: tuple[str, ...]
    rollback_keep: int
    audit_retention_days: int
    updated_at: datetime


@dataclass(frozen=True)
class NpmView:
    url: str
    email: str
    has_password: bool
    certificate_id: int | None
    ssl_forced: bool


class SettingsAdmin:
    def __init__(
        self,
        settings: SettingsStore,
        notifier: Notifier,
        http: httpx.AsyncClient,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        self._settings = settings
        self._notifier = notifier
        self._http = http

    async def get_global(self) -> GlobalView:
        return await asyncio.to_thread(self._global_view)

    async def update_global(self, data: GlobalInput, *, actor: Actor) -> GlobalView:
        """Save; notifications go to the new URLs from now on.

        A notification URL given as a saved URL's mask keeps that URL (ValidationFailed when
        it is no longer stored); any other is a new URL, sealed before it is written.
        """
        before = await asyncio.to_thread(self._settings.get_global)
        work = asyncio.to_thread(self._update_global, data)
        view, urls, _ = await record_change(
            self._audit,
            actor,
            Target(other="global"),
            work,
            before=fields_of(before),
            after=lambda done: fields_of(done[2]),
        )
        self._notifier.replace_channels(notify.channels_from_urls(urls, self._http))
        return view

    def _update_global(self, data: GlobalInput) -> tuple[GlobalView, list[str], GlobalSettings]:
        urls = self._resolve_urls(data.notification_urls)
        self._settings.update_global(**{**data.model_dump(), "notification_urls": urls})
        plain = [plain for _, plain in self._settings.notification_urls()]
        return self._global_view(), plain, self._settings.get_global()

    def _resolve_urls(self, given: list[str]) -> list[str]:
        """Masks become the stored ciphertext they name; new URLs stay as typed."""
        stored = self._settings.get_global().notification_urls
        by_print = {url_mask.fingerprint(sealed): sealed for sealed in stored}
        resolved: list[str] = []
        errors: list[FieldError] = []
        for index, text in enumerate(given):
            mark = url_mask.kept(text)
            if mark is None:
                resolved.append(text)
            elif mark in by_print:
                resolved.append(by_print[mark])
            else:
                path = f"notification_urls.{index}"
                errors.append(FieldError(path, "this saved URL is gone: type the URL again"))
        if errors:
            raise ValidationFailed(errors)
        return resolved

    def _global_view(self) -> GlobalView:
        pairs = self._settings.notification_urls()
        masks = [url_mask.mask(plain, sealed) for sealed, plain in pairs]
        return _global_view(self._settings.get_global(), masks)

    def subdomain_example(self, pattern: str, domain: str = "") -> str:
        """What a pattern gives for a sample project (live preview; ValidationFailed if bad)."""
        host = domain.strip().lower() or "example.com"
        plain = subdomains.render(pattern, project=EXAMPLE_PROJECT, stage=EXAMPLE_STAGE)
        tagged = subdomains.render(
            pattern, project=EXAMPLE_PROJECT, stage=EXAMPLE_STAGE, tag=EXAMPLE_TAG
        )
        return f"{plain}.{host} (tag {EXAMPLE_TAG}: {tagged}.{host})"

    async def get_npm(self) -> NpmView:
        return _npm_view(await asyncio.to_thread(self._settings.get_npm))

    async def update_npm(self, data: NpmInput, *, actor: Actor) -> NpmView:
        """Save; `password` None keeps the stored one, but only for the address it was saved
        for (ValidationFailed on `password` otherwise). Deploys use the new settings at once."""
        before = await asyncio.to_thread(self._settings.get_npm)
        work = asyncio.to_thread(self._update_npm, data)
        row = await record_change(
            self._audit, actor, Target(other="npm"), work, before=fields_of(before), after=fields_of
        )
        return _npm_view(row)

    async def test_npm(self, data: NpmInput | None = None) -> str:
        """Sign in to NPM with `data` (password None: the stored one) or the stored settings.

        Raises ValidationFailed (`url` missing), CannotConnect, Timeout, InvalidAuth.
        """
        url, email, password = await asyncio.to_thread(self._npm_login, data)
        version = await NpmClient(url, email, password, http=self._http).test_connection()
        return f"Connected to Nginx Proxy Manager {version} as {email}"

    async def certificates(self) -> list[Certificate]:
        """The certificates NPM holds (stored settings), for the certificate choice."""
        url, email, password = await asyncio.to_thread(self._npm_login, None)
        return await NpmClient(url, email, password, http=self._http).list_certificates()

    async def certificate_warnings(self, held: list[Certificate]) -> list[str]:
        """Of the certificates `certificates()` listed: those expiring within 14 days, and
        a missing valid wildcard for the installation's domain (new hosts would get none)."""
        domain = (await asyncio.to_thread(self._settings.get_global)).domain
        return certificate_warnings(held, domain, datetime.now(UTC))

    async def send_test_notification(self) -> list[ChannelResult]:
        """One result per notification URL (empty when none is set); never raises."""
        return await self._notifier.send_test()

    async def webhook_path(self) -> str:
        """`/api/webhook/<secret>`: the page prefixes it with the address browsers use."""
        return WEBHOOK_PREFIX + await asyncio.to_thread(self._settings.webhook_secret)

    async def regenerate_webhook(self, *, actor: Actor) -> str:
        """A new secret; the old URL answers 404 from now on. Returns the new path."""
        secret = await asyncio.to_thread(self._settings.regenerate_webhook_secret)
        await self._audit.record(actor, "webhook_regenerate", Target(other="webhook"))
        return WEBHOOK_PREFIX + secret

    def _update_npm(self, data: NpmInput) -> NpmSettings:
        if data.password is None:
            self._refuse_moved_password(self._settings.get_npm(), data.url)
        fields = data.model_dump(exclude={"password"})
        return self._settings.update_npm(password=data.password, **fields)

    def _npm_login(self, data: NpmInput | None) -> tuple[str, str, str]:
        stored = self._settings.get_npm()
        url, email = (data.url, data.email) if data else (stored.url, stored.email)
        if not url:
            raise ValidationFailed.single("url", "give NPM's address first, e.g. http://npm:81")
        password = data.password if data else None
        if password is None:
            self._refuse_moved_password(stored, url)
            password = self._settings.npm_password() or ""
        return url, email, password

    @staticmethod
    def _refuse_moved_password(stored: NpmSettings, url: str) -> None:
        """The stored password is only ever sent to the address it was saved with."""
        if stored.password_enc and not credential_scope.may_keep(stored.url, url):
            raise ValidationFailed(credential_scope.retype("password", "password"))


def _global_view(row: GlobalSettings, masks: list[str]) -> GlobalView:
    return GlobalView(
        domain=row.domain,
        server_ip=row.server_ip,
        network=row.network,
        subdomain_pattern=row.subdomain_pattern,
        notification_urls=tuple(masks),
        poll_interval=row.poll_interval,
        auto_create_allow=tuple(row.auto_create_allow),
        volume_roots=tuple(row.volume_roots),
        named_volumes=tuple(row.named_volumes),
        rollback_keep=row.rollback_keep,
        audit_retention_days=row.audit_retention_days,
        updated_at=row.updated_at,
    )


def _npm_view(row: NpmSettings) -> NpmView:
    return NpmView(
        url=row.url,
        email=row.email,
        has_password=bool(row.password_enc),
        certificate_id=row.certificate_id,
        ssl_forced=row.ssl_forced,
    )
