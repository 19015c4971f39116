"""The sign-in settings as the settings page and the REST API change them.

One input model (`AuthSettingsInput`) checks every field with the shared definitions in
`services.fields`, so the form, the API and the seed accept the same values. The OIDC client
secret is never returned: a stored one is shown as a mask (`•••••••• [saved 1a2b3c4d]`) and
sending that mask back (or null) keeps it, but only for the provider it was saved for.

Two rules keep people from locking themselves out: OIDC sign-in (alone or beside passwords)
needs a discovery URL and a client id, and "OIDC only" needs an enabled admin who has already
signed in through this provider once. Every save leaves one `auth_settings` audit row naming
the fields that changed (never a value of the secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field

from services import connection_trouble, credential_scope
from services.admin.document_writer import OIDC_COLUMNS
from services.admin.inputs import InputModel
from services.audit.log import Actor, AuditLog, Target
from services.auth.oidc import OidcClient, OidcClientConfig, OidcRefused
from services.auth.oidc_settings import LOCK_OUT, oidc_only_safe
from services.errors import CannotConnect, FieldError, ValidationFailed, WrongService
from services.fields import (
    AUTH_DEFAULTS,
    ClaimName,
    DefaultRole,
    EmailDomains,
    OidcClientId,
    OidcClientSecret,
    OidcDiscoveryUrl,
    OidcDisplayName,
    OidcScopes,
    RoleMap,
    SignInMode,
)
from services.fields import AllowedNames as Names
from services.store.models import AuthMode, AuthSettings
from services.store.settings_store import SettingsStore
from services.store.users import UserStore

SECTION = "auth"  # the audit row's target
_MASK = re.compile(r"•+ \[saved ([0-9a-f]{8})\]")


class AuthSettingsInput(InputModel):
    """The whole sign-in section, as the settings form and `PUT /api/settings/auth` send it."""

    mode: SignInMode = Field(
        AUTH_DEFAULTS.mode,
        description="local passwords, OIDC only, or both; OIDC needs discovery_url and "
        "client_id, OIDC only also an enabled admin who signed in through the provider once",
    )
    display_name: OidcDisplayName = Field(
        AUTH_DEFAULTS.oidc_display_name, description='the login button says "Sign in with <name>"'
    )
    discovery_url: OidcDiscoveryUrl = Field(
        "", description="https://<issuer>/.well-known/openid-configuration"
    )
    client_id: OidcClientId = ""
    client_secret: OidcClientSecret | None = Field(
        None,
        repr=False,
        description="null, or the mask returned (`•••••••• [saved 1a2b3c4d]`), keeps the stored "
        "secret (same discovery URL origin only); an empty text clears it",
    )
    scopes: OidcScopes = Field(
        AUTH_DEFAULTS.oidc_scopes, description="space-separated; openid is added when missing"
    )
    username_claim: ClaimName = AUTH_DEFAULTS.oidc_username_claim
    groups_claim: ClaimName = AUTH_DEFAULTS.oidc_groups_claim
    allowed_users: Names = Field([], description="usernames or emails; empty: anyone")
    allowed_groups: Names = Field([], description="provider groups; empty: any group")
    allowed_email_domains: EmailDomains = Field([], description="e.g. example.com")
    require_verified_email: bool = Field(
        AUTH_DEFAULTS.require_verified_email,
        description="people allowed by their email's domain need email_verified true",
    )
    role_map: RoleMap = Field({}, description="provider group -> admin, deployer or viewer")
    default_role: DefaultRole = Field(
        AUTH_DEFAULTS.oidc_default_role, description='no group matched: this role; "": refused'
    )


@dataclass(frozen=True)
class AuthSettingsView:
    """The sign-in settings as shown: the client secret only as its mask ("" when none)."""

    mode: str
    display_name: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    username_claim: str
    groups_claim: str
    allowed_users: tuple[str, ...]
    allowed_groups: tuple[str, ...]
    allowed_email_domains: tuple[str, ...]
    require_verified_email: bool
    role_map: dict[str, str]
    default_role: str


@dataclass(frozen=True)
class DiscoveryView:
    """What "Test discovery" found at a discovery URL."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]


class AuthSettingsAdmin:
    def __init__(
        self, settings: SettingsStore, users: UserStore, audit: AuditLog, http: httpx.AsyncClient
    ) -> None:
        self._settings = settings
        self._users = users
        self._audit = audit
        self._http = http

    async def get(self) -> AuthSettingsView:
        return _view(await asyncio.to_thread(self._settings.get_auth))

    async def update(self, data: AuthSettingsInput, actor: Actor) -> AuthSettingsView:
        """Save all fields at once or none (ValidationFailed naming the field); the sign-in
        uses them from the next attempt on. One audit row names the changed fields."""
        row, changed = await asyncio.to_thread(self._update, data)
        await self._audit.record(
            actor, "auth_settings", Target(other=SECTION), detail={"changed": changed}
        )
        return _view(row)

    async def test_discovery(self, discovery_url: str) -> DiscoveryView:
        """Fetch and check the discovery document at `discovery_url` (saved or not).

        Raises ValidationFailed (`discovery_url` empty or not a URL), CannotConnect, TlsProblem,
        Timeout, WrongService (not a discovery document, another issuer), UpstreamError.
        """
        url = _parse_url(discovery_url)
        client = OidcClient(OidcClientConfig(url, client_id="", client_secret=""), self._http)
        try:
            found = await client.metadata()
        except OidcRefused as exc:  # an OAuth error answer where the document should be
            raise WrongService(f"{url} is not a provider's discovery document ({exc})") from exc
        except CannotConnect as exc:  # told apart again: nothing answers, or TLS failed
            cause = exc.__cause__
            if isinstance(cause, httpx.HTTPError) and not isinstance(exc, WrongService):
                raise connection_trouble.explain(cause, "the OIDC provider", url) from cause
            raise
        return DiscoveryView(
            issuer=found.issuer,
            authorization_endpoint=found.authorization_endpoint,
            token_endpoint=found.token_endpoint,
            jwks_uri=found.jwks_uri,
            userinfo_endpoint=found.userinfo_endpoint,
            algorithms=found.algorithms,
        )

    def _update(self, data: AuthSettingsInput) -> tuple[AuthSettings, list[str]]:
        before = self._settings.get_auth()
        secret = _secret_given(before, data)
        _refuse_unconfigured(data)
        if data.mode == AuthMode.OIDC.value:
            self._refuse_lock_out(data.discovery_url)
        columns = {OIDC_COLUMNS[name]: value for name, value in _fields(data).items()}
        columns["mode"] = AuthMode(data.mode)
        changed = [n for n, c in _NAMES.items() if getattr(before, c) != columns[c]]
        if secret == "":  # cleared
            columns["oidc_client_secret_enc"] = None
        if secret is not None and (secret or before.oidc_client_secret_enc):
            changed.append("client_secret")
        row = self._settings.update_auth(client_secret=secret or None, **columns)
        return row, changed

    def _refuse_lock_out(self, discovery_url: str) -> None:
        if not oidc_only_safe(self._users.all(), discovery_url):
            raise ValidationFailed.single("mode", LOCK_OUT)


# Input field -> column, for comparing before and after (the secret is compared apart).
_NAMES = {"mode": "mode", **OIDC_COLUMNS}


def _fields(data: AuthSettingsInput) -> dict[str, Any]:
    """The input's OIDC fields by their seed names (all but mode and the secret)."""
    dumped = data.model_dump(exclude={"mode", "client_secret"})
    return {name: dumped[name] for name in OIDC_COLUMNS}


def _refuse_unconfigured(data: AuthSettingsInput) -> None:
    if data.mode != AuthMode.LOCAL.value and not (data.discovery_url and data.client_id):
        missing = [n for n in ("discovery_url", "client_id") if not getattr(data, n)]
        raise ValidationFailed(
            [FieldError("mode", f"mode '{data.mode}' needs the {' and '.join(missing)} first")]
            + [FieldError(name, "is required for OIDC sign-in") for name in missing]
        )


def _secret_given(before: AuthSettings, data: AuthSettingsInput) -> str | None:
    """The new secret to store, or None to keep the stored one ("" clears it).

    A kept secret stays only for the provider origin it was saved with; a mask that names a
    secret no longer stored is refused (someone else changed it meanwhile).
    """
    text = data.client_secret
    mark = None if text is None else _kept(text)
    if text is not None and mark is None:
        return text
    sealed = before.oidc_client_secret_enc
    if mark is not None and (sealed is None or mark != _fingerprint(sealed)):
        raise ValidationFailed.single("client_secret", "this saved secret is gone: type it again")
    if sealed and not credential_scope.may_keep(before.oidc_discovery_url, data.discovery_url):
        raise ValidationFailed([credential_scope.retype("client_secret", "client secret")])
    return None


def _parse_url(discovery_url: str) -> str:
    url = AuthSettingsInput.parse({"discovery_url": discovery_url.strip()}).discovery_url
    if not url:
        raise ValidationFailed.single("discovery_url", "type the provider's discovery URL first")
    return url


def secret_mask(sealed: str | None) -> str:
    """`•••••••• [saved <fingerprint>]` for a stored secret, "" for none; the fingerprint is
    taken from the ciphertext (random nonce), so it tells nothing about the secret."""
    return f"•••••••• [saved {_fingerprint(sealed)}]" if sealed else ""


def _fingerprint(sealed: str) -> str:
    return hashlib.sha256(sealed.encode("ascii")).hexdigest()[:8]


def _kept(text: str) -> str | None:
    match = _MASK.fullmatch(text.strip())
    return match.group(1) if match else None


def _view(row: AuthSettings) -> AuthSettingsView:
    return AuthSettingsView(
        mode=AuthMode(row.mode).value,
        display_name=row.oidc_display_name,
        discovery_url=row.oidc_discovery_url,
        client_id=row.oidc_client_id,
        client_secret=secret_mask(row.oidc_client_secret_enc),
        scopes=row.oidc_scopes,
        username_claim=row.oidc_username_claim,
        groups_claim=row.oidc_groups_claim,
        allowed_users=tuple(row.allowed_users),
        allowed_groups=tuple(row.allowed_groups),
        allowed_email_domains=tuple(row.allowed_email_domains),
        require_verified_email=row.require_verified_email,
        role_map=dict(row.oidc_role_map),
        default_role=row.oidc_default_role,
    )
