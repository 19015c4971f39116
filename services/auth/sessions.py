"""Local sign-in: bcrypt password checks, signed session tokens (JWT), sign-out and throttling.

No web framework here: the API routes, the request guard and the login page all call this one
service, so the rules (one generic failure message, even timing, throttling) hold for every way
in. Blocking work (bcrypt, database) runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import bcrypt
import jwt

from services.audit.log import Actor, AuditLog, Target
from services.auth.limits import ExpiringMap, SignInLimits
from services.errors import InvalidAuth, RateLimited, ValidationFailed
from services.store.models import AuditOutcome, RevokedToken, Role, User, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SessionsEnded = Callable[[], None]  # told that some sessions ended; it re-checks what it holds
TOKEN_TTL = timedelta(hours=12)
TICKET_TTL = 60.0  # seconds a login page hand-off ticket stays redeemable
FAILED = "invalid username or password"  # the one message for every failed sign-in
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt>=5: refuses) anything longer
_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "name", "role", "iat", "exp", "jti"]


class IssuedToken(NamedTuple):
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for; routes and pages read it, nothing here is secret."""

    user_id: int
    username: str
    role: Role  # fixed for the session: a role change ends the user's sessions
    token_id: str
    issued_at: datetime
    expires_at: datetime


def principal_in(state: object) -> Principal | None:
    """The Principal the request guard left on a request's `state` (None on public paths).

    The guard (in the app layer) stores it as `state.principal`; API routes and pages both read
    it through here, so neither needs to import the other.
    """
    principal = getattr(state, "principal", None)
    return principal if isinstance(principal, Principal) else None


class UserDirectory(Protocol):
    """The part of the user store the service needs (UserStore satisfies it)."""

    def by_username(self, username: str) -> User | None: ...

    def update(self, user_id: int, **changes: Any) -> User: ...


class SessionRecords(Protocol):
    """Where sign-outs and password-change cut-offs are kept across restarts (SessionLedger)."""

    def revoke(self, token_id: str, user_id: int, expires_at: int) -> None: ...

    def revoked(self, now: int) -> Sequence[RevokedToken]: ...

    def valid_from(self) -> dict[int, float]: ...


class PasswordHasher:
    """bcrypt with a chosen cost; tests pass a low cost, production keeps bcrypt's default."""

    def __init__(self, rounds: int = 12) -> None:
        self._rounds = rounds

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self._rounds)).decode()

    def check(self, password: str, hashed: str) -> bool:
        """Always does one full bcrypt round, even for an over-long password (then False)."""
        raw = password.encode()
        ok = bcrypt.checkpw(raw[:MAX_PASSWORD_BYTES], hashed.encode())
        return ok and len(raw) <= MAX_PASSWORD_BYTES


def safe_next(target: str | None) -> str:
    """A same-site path to go to after signing in; anything else (URLs, `//host`) becomes `/`.

    Guards against open redirects: only a plain local path is accepted, never the login page.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 or c == "\\" for c in target):
        return "/"
    return "/" if parts.path == "/login" else target


def check_password_rules(password: str, field: str = "password") -> None:
    """Raise ValidationFailed naming `field` when it is too short or too long for bcrypt."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed.single(field, f"must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationFailed.single(field, f"must be at most {MAX_PASSWORD_BYTES} bytes")


class AuthService:
    """Checks passwords, issues and verifies session tokens, ends sessions, slows guessing.

    Sign-outs and password changes are checked in memory on every request, and written to
    `records` so that `restore` brings them back after a restart (without records, a restart
    forgets them). Throttling stays in memory only: a flood of guesses never becomes writes.
    Whoever holds sessions beyond one request (the open pages) subscribes with
    `on_sessions_ended` and is told whenever a sign-out, a password change or an account
    change (`cut_sessions`, `end_sessions`) ends some. A disabled account cannot sign in or
    get a token.
    """

    def __init__(
        self,
        users: UserDirectory,
        jwt_key: bytes,
        *,
        clock: Clock = utcnow,
        token_ttl: timedelta = TOKEN_TTL,
        hasher: PasswordHasher | None = None,
        limits: SignInLimits | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        records: SessionRecords | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        if len(jwt_key) < 32:
            raise ValueError("the JWT key must have at least 32 bytes")
        self._users = users
        self._key = jwt_key
        self._clock = clock
        self._ttl = token_ttl
        self._hasher = hasher or PasswordHasher()
        # A hash of a random password: unknown users are checked against it so they cost the
        # same bcrypt work as known ones, and timing does not tell which usernames exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self._limits = limits or SignInLimits()
        self._sleep = sleep
        self._revoked: ExpiringMap[str, bool] = ExpiringMap(100_000)
        self._not_before: dict[int, float] = {}
        self._tickets: ExpiringMap[str, IssuedToken] = ExpiringMap(1_000)
        self._records = records
        self._listeners: list[SessionsEnded] = []
        self._audit = audit  # sign-ins, their failures, sign-outs and password changes

    def on_sessions_ended(self, listener: SessionsEnded) -> None:
        """Call `listener` (on the event loop, synchronously: keep it cheap) after every
        sign-out and password change; it finds what ended with `is_valid`."""
        self._listeners.append(listener)

    def restore(self) -> None:
        """Load the sign-outs and password-change cut-offs kept by `records` (blocking: call
        it at start-up, before serving)."""
        if self._records is None:
            return
        now = self._now()
        for row in self._records.revoked(int(now)):
            self._revoked.put(row.token_id, True, row.expires_at, now)
        self._not_before.update(self._records.valid_from())

    async def authenticate(self, username: str, password: str, *, client: str = "") -> User:
        """Return the user whose password this is.

        Raises RateLimited (with `retry_after`) while the username at this client address, or
        the address, is throttled, and InvalidAuth with one generic message for an unknown
        user, a wrong password or an account without a local password. While many sign-ins
        fail everywhere, every attempt is answered a little later (never refused for that).
        """
        now = self._now()
        keys = self._limits.begin(username, client, now)
        if wait := self._limits.delay(now):
            await self._sleep(wait)
        user = await asyncio.to_thread(self._check_password, username, password)
        if user is None:
            self._limits.failed(self._now())
            log.warning("failed sign-in from %s", client or "an unknown address")
            raise InvalidAuth(FAILED)
        self._limits.succeeded(keys, now)
        return user

    async def login(self, username: str, password: str, *, client: str = "") -> IssuedToken:
        """Authenticate, record the sign-in time and issue a session token (one path for all).

        Every attempt leaves one audit row: a failure names the username that was tried."""
        actor = Actor.user(username, client)
        try:
            user = await self.authenticate(username, password, client=client)
        except RateLimited:
            await self._record(actor, "sign_in", AuditOutcome.REFUSED, "too many attempts")
            raise
        except InvalidAuth as exc:
            await self._record(actor, "sign_in", AuditOutcome.FAILED, str(exc))
            raise
        issued = self.issue_token(user)
        assert user.id is not None  # authenticate only returns stored users
        await asyncio.to_thread(self._users.update, user.id, last_login_at=self._clock())
        log.info("user %s signed in", user.username)
        await self._record(Actor.user(user.username, client), "sign_in")
        return issued

    def issue_token(self, user: User) -> IssuedToken:
        """A signed HS256 token for `user`, valid for `token_ttl` from now."""
        if user.id is None:
            raise ValueError("cannot issue a token for a user that is not stored")
        if user.disabled:
            raise InvalidAuth(FAILED)
        issued = round(self._now(), 3)  # milliseconds: ended sessions are told from new ones
        expires = int(issued) + int(self._ttl.total_seconds())
        claims = {
            "sub": str(user.id),
            "name": user.username,
            "role": Role(user.role).value,
            "iat": issued,
            "exp": expires,
            "jti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(claims, self._key, algorithm=_ALGORITHM)
        return IssuedToken(token, datetime.fromtimestamp(expires, UTC))

    def seconds_left(self, issued: IssuedToken) -> int:
        """How long `issued` stays valid by our clock: the cookie's Max-Age, which (unlike an
        absolute expiry date) does not depend on the browser's clock being right."""
        return max(0, int(issued.expires_at.timestamp() - self._now()))

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; InvalidAuth when it is malformed, forged, expired,
        signed out, or older than its user's last password change."""
        claims = self._decode(token)
        try:
            principal = Principal(
                user_id=int(claims["sub"]),
                username=str(claims["name"]),
                role=Role(claims["role"]),
                token_id=str(claims["jti"]),
                issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
                expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
            )
        except (TypeError, ValueError, OverflowError):
            raise InvalidAuth("not signed in") from None
        self._check_still_valid(principal)
        return principal

    def is_valid(self, principal: Principal) -> bool:
        """Whether a session verified earlier still holds: not expired, not signed out, not
        older than a password change. In memory only, cheap enough for every page event."""
        try:
            self._check_still_valid(principal)
        except InvalidAuth:
            return False
        return True

    async def sign_out(self, token: str, *, client: str = "") -> None:
        """End the session of `token` (until it would have expired); invalid tokens are ignored."""
        try:
            principal = self.verify(token)
        except InvalidAuth:
            return
        deadline = principal.expires_at.timestamp()
        self._revoked.put(principal.token_id, True, deadline, self._now())
        self._announce()
        if self._records is not None:
            await asyncio.to_thread(
                self._records.revoke, principal.token_id, principal.user_id, int(deadline)
            )
        log.info("user %s signed out", principal.username)
        await self._record(Actor.user(principal.username, client), "sign_out")

    def cut_off(self) -> float:
        """Now, for `cut_sessions`: a session issued until this very millisecond is older."""
        return round(self._now(), 3) + 0.001

    def cut_sessions(self, user_id: int, cut_off: float) -> None:
        """End every session of `user_id` issued before `cut_off` (a role change, a disabled
        or removed account) and tell the listeners. The caller stores the cut-off with the
        change (`sessions_valid_from`, `RemovedUser`) so a restart keeps them ended."""
        self._not_before[user_id] = max(cut_off, self._not_before.get(user_id, 0))
        self._announce()

    async def set_password(self, user_id: int, password: str) -> None:
        """Store a new bcrypt hash and end every session of that user issued until now.

        Raises ValidationFailed (field `password`) for a password outside bcrypt's limits.
        """
        await self._store_password(user_id, password)
        self._announce()

    async def end_sessions(self, user_id: int) -> None:
        """End every session of the user issued until now (a role changed: the role rides in
        the token). Kept across restarts like a password change's cut-off."""
        cut_off = self.cut_off()
        stored = math.ceil(cut_off)  # whole seconds, rounded up: a restart keeps them ended
        await asyncio.to_thread(self._users.update, user_id, sessions_valid_from=stored)
        self.cut_sessions(user_id, cut_off)

    async def _store_password(self, user_id: int, password: str) -> None:
        check_password_rules(password)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        # Whole seconds, like `iat`: a token from the same second as the change stays valid.
        # Stored with the hash in one write, so a restart cannot revive the older sessions.
        cut_off = math.floor(self._now())
        await asyncio.to_thread(
            self._users.update, user_id, password_hash=hashed, sessions_valid_from=cut_off
        )
        self._not_before[user_id] = cut_off

    async def change_password(
        self,
        principal: Principal,
        current: str,
        new: str,
        *,
        client: str = "",
        keep: Callable[[Principal], None] | None = None,
    ) -> IssuedToken:
        """A signed-in user's own change: the current password is checked like a sign-in
        (and throttled), the new one stored, every session of the user ended, and a fresh
        token returned for the caller's own session.

        `keep` gets the fresh session before the ended ones are announced, so the page that
        made the change can move over to it instead of being closed with the others.
        Raises ValidationFailed (field `new_password` breaks the rules, field `current_password`
        is wrong), RateLimited, InvalidAuth (the account behind the session is gone).
        """
        actor = Actor.user(principal.username, client)
        try:
            check_password_rules(new, "new_password")
            user = await self.authenticate(principal.username, current, client=client)
        except InvalidAuth:
            await self._record(actor, "password_change", AuditOutcome.FAILED, "wrong password")
            raise ValidationFailed.single("current_password", "is not right") from None
        except ValidationFailed:
            await self._record(actor, "password_change", AuditOutcome.FAILED, "rules not met")
            raise
        except RateLimited:
            await self._record(actor, "password_change", AuditOutcome.REFUSED, "throttled")
            raise
        if user.id != principal.user_id:  # the name now belongs to another account
            raise InvalidAuth("the session no longer matches its user; please sign in again")
        await self._store_password(principal.user_id, new)
        log.info("user %s changed the password", principal.username)
        await self._record(actor, "password_change")
        issued = self.issue_token(user)
        if keep is not None:
            keep(self.verify(issued.token))
        self._announce()
        return issued

    async def _record(
        self, actor: Actor, action: str, outcome: AuditOutcome = AuditOutcome.OK, message: str = ""
    ) -> None:
        if self._audit is not None:
            target = Target(other=actor.name)
            await self._audit.record(actor, action, target, outcome=outcome, message=message)

    def hand_off(self, issued: IssuedToken) -> str:
        """A one-time ticket standing for `issued`, redeemable for `TICKET_TTL` seconds.

        The login page signs in over its websocket, which has no HTTP response to carry the
        cookie; it sends the browser to a route that redeems the ticket and sets the cookie.
        """
        ticket = secrets.token_urlsafe(32)
        now = self._now()
        self._tickets.put(ticket, issued, now + TICKET_TTL, now)
        return ticket

    def redeem(self, ticket: str) -> IssuedToken:
        """The token behind a ticket, once; InvalidAuth when unknown, used or expired."""
        issued = self._tickets.pop(ticket, self._now())
        if issued is None:
            raise InvalidAuth("the sign-in link is no longer valid; please sign in again")
        return issued

    def _now(self) -> float:
        return self._clock().timestamp()

    def _announce(self) -> None:
        """Tell the subscribers; one failing must neither stop the others nor the sign-out."""
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a sessions-ended listener failed")

    def _check_password(self, username: str, password: str) -> User | None:
        """Runs in a worker thread: one database read and exactly one bcrypt check."""
        user = self._users.by_username(username)
        stored = user.password_hash if user is not None else None
        matches = self._hasher.check(password, stored or self._dummy_hash)
        return user if matches and stored and user and not user.disabled else None

    def _decode(self, token: str) -> dict[str, Any]:
        # Expiry is checked against our own clock (injectable), not PyJWT's.
        options: Any = {"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False}
        try:
            claims: dict[str, Any] = jwt.decode(token, self._key, [_ALGORITHM], options=options)
        except jwt.PyJWTError:
            raise InvalidAuth("not signed in") from None
        return claims

    def _check_still_valid(self, principal: Principal) -> None:
        now = self._now()
        if principal.expires_at.timestamp() <= now:
            raise InvalidAuth("the session has expired; please sign in again")
        if self._revoked.get(principal.token_id, now):
            raise InvalidAuth("the session was signed out")
        if principal.issued_at.timestamp() < self._not_before.get(principal.user_id, 0):
            raise InvalidAuth("the password was changed; please sign in again")
