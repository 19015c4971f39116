"""Signing in through the OIDC provider, from the first redirect to our own session.

`begin` starts a sign-in and keeps its secrets (state, nonce, PKCE verifier) here, on the
server, under a random binding key that the route hands to this browser alone as a short-lived
cookie; `finish` takes the binding back with the provider's callback, once. A callback that
arrives in a browser that did not start the sign-in finds nothing (login CSRF: nobody can push
their own sign-in into someone else's browser), and a second use of the same callback finds
nothing either.

Who enters is decided by `oidc_access.admit`; people are matched to our accounts by the
provider's (issuer, subject), never by username, so a provider account called "admin" never
becomes our local admin. A new person whose username another account already has is refused
(with a clear message): taking a distinct name would quietly give them a name that reads like
someone else's in the audit log. The role is refreshed on every sign-in; a changed role ends
the user's earlier sessions (the role rides in the session token). A refused person gets no
account and no session. Every outcome of a started sign-in leaves one `sign_in` audit row.

The provider's client (with its discovery and key caches) is kept across sign-ins and rebuilt
when the configuration it was made from changes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.audit.log import Actor, AuditLog
from services.auth.limits import ExpiringMap
from services.auth.oidc import OidcClient, OidcClientConfig, OidcIdentity, PendingSignIn
from services.auth.oidc_access import AccessRefused, Admission, admit
from services.auth.oidc_keys import OidcRefused
from services.auth.oidc_settings import client_config, oidc_enabled, password_enabled
from services.auth.sessions import AuthService, IssuedToken
from services.errors import Conflict, WatcherError
from services.store.models import AuditOutcome, AuthSettings, User, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], float]
PENDING_TTL = 600.0  # seconds a started sign-in may take at the provider
MAX_PENDING = 1_000  # started sign-ins kept at once (oldest dropped): a flood cannot grow it
NOTE_TTL = 300.0  # seconds the login page can show why a sign-in failed
MAX_NOTES = 1_000
UNKNOWN_ACTOR = "(unknown)"  # a sign-in refused before the provider said who it was

PROVIDER_DOWN = "The sign-in provider could not be reached. Try again in a moment."
NOT_ENABLED = "Sign-in through a provider is not turned on."
NOT_STARTED_HERE = (
    "This sign-in was not started in this browser, was already used, or took too long. "
    "Start the sign-in again."
)
DISABLED = "Your account is disabled on this dashboard."
USERNAME_TAKEN = (
    "Another account on this dashboard already has your provider username, so you cannot be "
    "signed in with it. Ask an administrator."
)
NO_REDIRECT = "The dashboard could not tell its own address; sign in from its usual URL."


class SignInFailed(Exception):
    """A sign-in through the provider did not happen; the message is for the person."""

    def __init__(self, message: str, next_path: str = "/") -> None:
        super().__init__(message)
        self.next_path = next_path


class AuthSettingsSource(Protocol):
    """The part of SettingsStore used here."""

    def get_auth(self) -> AuthSettings: ...

    def oidc_client_secret(self) -> str | None: ...


class OidcAccounts(Protocol):
    """The part of UserStore used here."""

    def by_oidc_identity(self, issuer: str, subject: str) -> User | None: ...

    def by_username(self, username: str) -> User | None: ...

    def create(self, **fields: object) -> User: ...

    def update(self, user_id: int, **changes: object) -> User: ...


@dataclass(frozen=True)
class SignInOptions:
    """What the login page offers."""

    password: bool  # the username and password form
    oidc: bool  # the "Sign in with <name>" button
    display_name: str


class SignInModes(Protocol):
    """What the login page and the password route ask (OidcSignIn; a local-only stand-in in
    tests of the password sign-in alone)."""

    async def options(self) -> SignInOptions: ...

    async def password_allowed(self) -> bool: ...

    def noted(self, key: str | None) -> str | None: ...


@dataclass(frozen=True)
class Started:
    binding: str  # the browser's cookie value: the key of the kept sign-in
    url: str  # the provider's authorization URL


@dataclass(frozen=True)
class Finished:
    issued: IssuedToken
    next_path: str


@dataclass(frozen=True)
class _Pending:
    sign_in: PendingSignIn
    client: OidcClient  # the client that began it finishes it
    next_path: str


class OidcSignIn:
    """The sign-in flow's server side (no HTTP here: the routes carry it)."""

    def __init__(
        self,
        *,
        settings: AuthSettingsSource,
        users: OidcAccounts,
        auth: AuthService,
        audit: AuditLog,
        http: httpx.AsyncClient,
        clock: Clock = time.monotonic,
    ) -> None:
        self._settings = settings
        self._users = users
        self._auth = auth
        self._audit = audit
        self._http = http
        self._clock = clock
        self._client: OidcClient | None = None
        self._client_config: OidcClientConfig | None = None
        self._pending: ExpiringMap[str, _Pending] = ExpiringMap(MAX_PENDING)
        self._notes: ExpiringMap[str, str] = ExpiringMap(MAX_NOTES)

    async def options(self) -> SignInOptions:
        row = await asyncio.to_thread(self._settings.get_auth)
        return SignInOptions(password_enabled(row), oidc_enabled(row), row.oidc_display_name)

    async def password_allowed(self) -> bool:
        """Whether the mode lets local passwords sign in (not in OIDC-only mode)."""
        return (await self.options()).password

    async def begin(self, redirect_uri: str | None, next_path: str) -> Started:
        """Start a sign-in that will come back to `redirect_uri` and then go to `next_path`
        (already a safe local path); raises SignInFailed."""
        row = await asyncio.to_thread(self._settings.get_auth)
        if not oidc_enabled(row):
            raise SignInFailed(NOT_ENABLED, next_path)
        if redirect_uri is None:
            raise SignInFailed(NO_REDIRECT, next_path)
        client = await self._current_client(row)
        try:
            pending = await client.begin(redirect_uri)
        except WatcherError as exc:
            log.warning("could not start a sign-in through the provider: %s", exc)
            raise SignInFailed(PROVIDER_DOWN, next_path) from None
        binding = secrets.token_urlsafe(32)
        now = self._clock()
        self._pending.put(binding, _Pending(pending, client, next_path), now + PENDING_TTL, now)
        return Started(binding=binding, url=pending.url)

    async def finish(
        self, binding: str | None, callback: Mapping[str, str], *, address: str = ""
    ) -> Finished:
        """Complete the sign-in this browser started (once): verify the provider's answer,
        admit the person, find or make their account, issue our session. Raises SignInFailed."""
        pending = self._pending.pop(binding, self._clock()) if binding else None
        if pending is None:
            raise SignInFailed(NOT_STARTED_HERE)
        target = pending.next_path
        try:
            identity = await pending.client.finish(pending.sign_in, callback)
        except OidcRefused as exc:
            await self._refused(UNKNOWN_ACTOR, address, AuditOutcome.FAILED, str(exc))
            raise SignInFailed(_sentence(str(exc)), target) from None
        except WatcherError as exc:
            log.warning("could not finish a sign-in through the provider: %s", exc)
            await self._refused(UNKNOWN_ACTOR, address, AuditOutcome.FAILED, PROVIDER_DOWN)
            raise SignInFailed(PROVIDER_DOWN, target) from None
        row = await asyncio.to_thread(self._settings.get_auth)
        username = str(identity.claims.get(row.oidc_username_claim) or UNKNOWN_ACTOR)[:150]
        try:
            if not oidc_enabled(row):
                raise AccessRefused(NOT_ENABLED)
            user = await self._enter(identity, admit(row, identity.claims))
        except AccessRefused as exc:
            await self._refused(username, address, AuditOutcome.REFUSED, str(exc))
            raise SignInFailed(str(exc), target) from None
        issued = self._auth.issue_token(user)
        await self._audit.record(Actor.user(user.username, address), "sign_in", detail=_how())
        log.info("user %s signed in through the provider", user.username)
        return Finished(issued=issued, next_path=target)

    def note(self, message: str) -> str:
        """Keep a failure's message for the login page to show; returns its key (no text of
        it travels in the URL, so nobody can make the page say something of their own)."""
        key = secrets.token_urlsafe(16)
        now = self._clock()
        self._notes.put(key, message, now + NOTE_TTL, now)
        return key

    def noted(self, key: str | None) -> str | None:
        return self._notes.get(key, self._clock()) if key else None

    async def _current_client(self, row: AuthSettings) -> OidcClient:
        """The client for the configuration as saved now; a changed one gets a fresh client."""
        secret = await asyncio.to_thread(self._settings.oidc_client_secret)
        config = client_config(row, secret)
        if self._client is None or config != self._client_config:
            self._client = OidcClient(config, self._http)
            self._client_config = config
        return self._client

    async def _enter(self, identity: OidcIdentity, admission: Admission) -> User:
        """The person's account (made on the first sign-in), its role refreshed, its sign-in
        time set; earlier sessions end when the role changed."""
        user, role_changed = await asyncio.to_thread(self._account, identity, admission)
        assert user.id is not None
        if role_changed:
            await self._auth.end_sessions(user.id)
        return user

    def _account(self, identity: OidcIdentity, admission: Admission) -> tuple[User, bool]:
        """Runs in a worker thread: the store reads and one write."""
        now = utcnow()
        user = self._users.by_oidc_identity(identity.issuer, identity.subject)
        if user is None:
            if self._users.by_username(admission.username) is not None:
                raise AccessRefused(USERNAME_TAKEN)
            try:
                created = self._users.create(
                    username=admission.username,
                    email=admission.email,
                    oidc_issuer=identity.issuer,
                    oidc_subject=identity.subject,
                    role=admission.role,
                    last_login_at=now,
                )
            except Conflict:  # the name was taken in between
                raise AccessRefused(USERNAME_TAKEN) from None
            return created, False
        assert user.id is not None
        if user.disabled:
            raise AccessRefused(DISABLED)
        changes = {"role": admission.role, "email": admission.email, "last_login_at": now}
        return self._users.update(user.id, **changes), user.role != admission.role

    async def _refused(
        self, username: str, address: str, outcome: AuditOutcome, reason: str
    ) -> None:
        log.warning("refused a sign-in through the provider: %s", reason)
        actor = Actor.user(username, address)
        await self._audit.record(actor, "sign_in", outcome=outcome, detail=_how(), message=reason)


def _how() -> dict[str, str]:
    return {"method": "oidc"}


def _sentence(reason: str) -> str:
    """A client refusal ("the ID token has expired") as a sentence for the login page."""
    return f"The sign-in was refused: {reason}."
