"""/api/settings/auth: the sign-in settings (client secret masked), saving them, and "Test
discovery" on a discovery URL typed but not yet saved."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.acting import request_actor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import Out
from services.admin.auth_settings_admin import AuthSettingsAdmin, AuthSettingsInput
from services.fields import OidcDiscoveryUrl
from services.store.models import Role


class AuthSettingsOut(Out):
    mode: str
    display_name: str
    discovery_url: str
    client_id: str
    client_secret: str = Field(
        description='"" when none is stored, else its mask (`•••••••• [saved 1a2b3c4d]`): '
        "send the mask back to keep it"
    )
    scopes: str
    username_claim: str
    groups_claim: str
    allowed_users: list[str]
    allowed_groups: list[str]
    allowed_email_domains: list[str]
    require_verified_email: bool
    role_map: dict[str, str]
    default_role: str


class DiscoveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    discovery_url: OidcDiscoveryUrl


class DiscoveryOut(Out):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: list[str]


def register(api: FastAPI, admin: AuthSettingsAdmin) -> None:
    # Who signs in, and with which role, is for admins alone (403 for anyone else).
    router = APIRouter(
        prefix="/api/settings/auth", tags=["settings"], dependencies=require(Role.ADMIN)
    )

    @router.get("", summary="Sign-in settings (the client secret only masked)")
    async def get_auth() -> AuthSettingsOut:
        return AuthSettingsOut.model_validate(await admin.get())

    @router.put("", summary="Change the sign-in settings", responses=error_responses(422))
    async def put_auth(body: AuthSettingsInput, request: Request) -> AuthSettingsOut:
        """All fields are replaced at once, or nothing is saved. OIDC (or both) needs the
        discovery URL and client id; OIDC only also needs an enabled admin who has signed in
        through this provider once, so nobody is locked out."""
        return AuthSettingsOut.model_validate(await admin.update(body, request_actor(request)))

    @router.post(
        "/test-discovery",
        summary="Fetch a provider's discovery document (saved or not)",
        responses=error_responses(422, 502, 504),
    )
    async def test_discovery(body: DiscoveryIn) -> DiscoveryOut:
        return DiscoveryOut.model_validate(await admin.test_discovery(body.discovery_url))

    api.include_router(router)
