"""/api/settings: global and NPM settings (password never returned), tests, the webhook URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import Message, Out
from services.admin.settings_admin import GlobalInput, NpmInput, SettingsAdmin
from services.errors import FieldError, ValidationFailed
from services.store.models import Role


class GlobalOut(Out):
    domain: str
    server_ip: str
    network: str
    subdomain_pattern: str
    notification_urls: list[str] = Field(
        description="masked (`https://host/… [saved 1a2b3c4d]`): send a mask back to keep that URL"
    )
    poll_interval: int
    auto_create_allow: list[str]
    volume_roots: list[str]
    named_volumes: list[str]
    rollback_keep: int
    audit_retention_days: int
    updated_at: datetime


class NpmOut(Out):
    url: str
    email: str
    has_password: bool = Field(description="a password is stored (it is never returned)")
    certificate_id: int | None
    ssl_forced: bool


class SettingsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    global_: GlobalOut = Field(alias="global")
    npm: NpmOut


class SettingsIn(BaseModel):
    """Sections left out (or null) stay as they are; a section given is replaced whole."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    global_: GlobalInput | None = Field(None, alias="global")
    npm: NpmInput | None = None


class WebhookUrl(BaseModel):
    path: str = Field(description="/api/webhook/<secret>")
    url: str = Field(description="the path on the address this request came to")


class SubdomainExample(BaseModel):
    example: str


class CertificateOut(Out):
    id: int
    provider: str
    nice_name: str
    domain_names: list[str]
    expires_on: datetime | None


class ChannelResultOut(Out):
    channel: str
    ok: bool
    error: str | None


def _webhook(request: Request, path: str) -> WebhookUrl:
    return WebhookUrl(path=path, url=str(request.base_url).rstrip("/") + path)


def register(api: FastAPI, admin: SettingsAdmin) -> None:
    router = APIRouter(prefix="/api/settings", tags=["settings"])
    upstream = error_responses(422, 502, 504)

    async def current() -> SettingsOut:
        glob = GlobalOut.model_validate(await admin.get_global())
        return SettingsOut(global_=glob, npm=NpmOut.model_validate(await admin.get_npm()))

    @router.get("", summary="Global and NPM settings", dependencies=require(Role.ADMIN))
    async def get_settings() -> SettingsOut:
        return await current()

    @router.put(
        "",
        summary="Change global and/or NPM settings",
        responses=error_responses(422),
        dependencies=require(Role.ADMIN),
    )
    async def put_settings(body: SettingsIn, actor: RequestActor) -> SettingsOut:
        """Notifications go to new URLs at once; deploys use new NPM settings at once.

        NPM first: it is the section that can still be refused (a changed address without its
        password), and then nothing is saved.
        """
        if body.npm is not None:
            try:
                await admin.update_npm(body.npm, actor=actor)
            except ValidationFailed as exc:  # its fields, named as in this body
                named = [FieldError(f"npm.{e.path}", e.message) for e in exc.errors]
                raise ValidationFailed(named) from None
        if body.global_ is not None:
            await admin.update_global(body.global_, actor=actor)
        return await current()

    @router.get(
        "/webhook-url", summary="The secret webhook URL for CI", dependencies=require(Role.ADMIN)
    )
    async def webhook_url(request: Request) -> WebhookUrl:
        return _webhook(request, await admin.webhook_path())

    @router.post(
        "/webhook-url/regenerate",
        summary="A new webhook secret (the old URL stops working)",
        dependencies=require(Role.ADMIN),
    )
    async def regenerate(request: Request, actor: RequestActor) -> WebhookUrl:
        return _webhook(request, await admin.regenerate_webhook(actor=actor))

    @router.get(
        "/subdomain-example",
        summary="What a subdomain pattern gives",
        responses=error_responses(422),
        dependencies=require(Role.ADMIN),
    )
    async def subdomain_example(
        pattern: Annotated[str, Query(min_length=1, max_length=255)],
        domain: Annotated[str, Query(max_length=253)] = "",
    ) -> SubdomainExample:
        return SubdomainExample(example=admin.subdomain_example(pattern, domain))

    @router.post(
        "/npm/test",
        summary="Test NPM settings (given, or stored)",
        responses=upstream,
        dependencies=require(Role.ADMIN),
    )
    async def test_npm(body: Annotated[NpmInput | None, Body()] = None) -> Message:
        return Message(message=await admin.test_npm(body))

    @router.get(
        "/npm/certificates",
        summary="Certificates NPM holds",
        responses=upstream,
        dependencies=require(Role.ADMIN),
    )
    async def certificates() -> list[CertificateOut]:
        return [CertificateOut.model_validate(c) for c in await admin.certificates()]

    @router.post(
        "/notifications/test",
        summary="Send a test notification to every URL",
        dependencies=require(Role.ADMIN),
    )
    async def test_notifications() -> list[ChannelResultOut]:
        return [ChannelResultOut.model_validate(r) for r in await admin.send_test_notification()]

    api.include_router(router)
