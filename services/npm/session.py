"""The token session with one NPM instance: HTTP exchanges, login, renewal, error translation.

NPM has no API stability policy, so this follows what v2.10 to v2.15.1 do: tokens live one day
and are renewed before they expire, a stale token shows up as several different answers (400,
401/403, 404, 500) and is answered by one fresh login and one retry, and every outside failure
leaves as one of our own errors. The password and the token never appear in a message or a log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import httpx

from services import connection_trouble
from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    NotFound,
    RateLimited,
    UpstreamError,
    ValidationFailed,
    WrongService,
)
from services.npm.values import as_int, parse_timestamp

log = logging.getLogger(__name__)

TWO_FACTOR_MESSAGE = "the NPM user has two-factor authentication; use a dedicated user without it"
_JSON = Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_message(resp: httpx.Response) -> str:
    """NPM's `error.message`, or a short text for non-NPM answers; `message_i18n` is ignored."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if isinstance(message, str) and message:
            return message
    return resp.reason_phrase or f"HTTP {resp.status_code}"


def _is_stale_token_answer(status: int, message: str, item_id: int | None) -> bool:
    """The answers NPM gives for an expired, malformed or missing token."""
    if status in (401, 403):
        return True
    if status == 400:
        return "token has expired" in message.lower()
    if status == 404:
        return message.startswith("Not Found") and message != f"Not Found - {item_id}"
    return status == 500 and message == "Internal Error"


def _validation_error(action: str, message: str) -> ValidationFailed:
    """Turn NPM's validator text (`data/forward_port must be <= 65535`) into a named field."""
    match = re.match(r"^data/(\S+) (.+)$", message)
    if match:
        path = match.group(1).replace("/", ".")
        return ValidationFailed.single(f"npm.{path}", f"NPM refused to {action}: {match.group(2)}")
    return ValidationFailed.single("npm", f"NPM refused to {action}: {message}")


@dataclass
class _Token:
    value: str = field(repr=False)
    expires: datetime = field(default_factory=utcnow)


class NpmSession:
    """Authenticated calls to one NPM instance, sharing one token between concurrent callers.

    Login and renewal are serialized by a lock, so a burst of calls with an old token logs in
    once.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime],
        renew_before: timedelta,
    ) -> None:
        self.base = re.sub(r"(/api)?/*$", "", base_url.strip())
        self.email = email
        self._password = password
        self._http = http
        self._clock = clock
        self._renew_before = renew_before
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._version: tuple[int, int, int] | None = None

    # ----------------------------------------------------------------- transport

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: object = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP exchange, with httpx's exceptions translated at this boundary."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return await self._http.request(
                method, self.base + path, headers=headers, json=json, params=params
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise connection_trouble.explain(exc, f"NPM at {self.base}", self.base) from exc

    def json(self, resp: httpx.Response) -> _JSON:
        try:
            return resp.json()
        except ValueError as exc:
            raise UpstreamError(
                f"{self.base} answered something that is not JSON; is it NPM's admin port "
                "(usually 81)?"
            ) from exc

    def raise_for(self, resp: httpx.Response, action: str, item_id: int | None = None) -> NoReturn:
        """Map an unsuccessful answer to our vocabulary, naming what we were doing."""
        status, message = resp.status_code, error_message(resp)
        what = f"NPM could not {action}"
        if status == 400 and message.endswith("is already in use"):
            raise Conflict(f"{what}: {message}")
        if status == 400 and "token has expired" in message.lower():
            raise InvalidAuth(f"{what}: it calls a fresh token expired; check both clocks")
        if status == 400:
            raise _validation_error(action, message)
        if status == 404 and message == f"Not Found - {item_id}":
            raise NotFound(f"NPM proxy host #{item_id} does not exist")
        if status in (401, 403, 404):
            raise InvalidAuth(f"{what}: {message} (does the NPM user {self.email} have access?)")
        if status == 429:
            raise RateLimited(f"{what}: NPM asks us to slow down")
        if status in (502, 503, 504):
            raise CannotConnect(f"{what}: NPM at {self.base} is unavailable (HTTP {status})")
        raise UpstreamError(f"{what}: HTTP {status} {message}")

    # ----------------------------------------------------------------- tokens

    async def log_in(self) -> None:
        """A fresh login now (to check credentials before they are saved)."""
        async with self._lock:
            await self._login()

    async def _login(self) -> _Token:
        """POST /api/tokens with exactly `identity` and `secret` (v2.12+ rejects anything else)."""
        resp = await self.call(
            "POST", "/api/tokens", json={"identity": self.email, "secret": self._password}
        )
        if resp.status_code in (400, 401, 403):
            raise InvalidAuth(
                f"NPM refused the login of {self.email}: {error_message(resp)}. Check the "
                "e-mail and password of the NPM user (Users in NPM)"
            )
        if resp.status_code != 200:
            self.raise_for(resp, "log in")
        token = self._token_from(self.json(resp))
        log.debug("logged in to NPM at %s as %s", self.base, self.email)
        return token

    def _token_from(self, data: _JSON) -> _Token:
        if isinstance(data, dict) and data.get("requires_2fa"):
            raise InvalidAuth(TWO_FACTOR_MESSAGE)
        value = data.get("token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise UpstreamError(f"NPM at {self.base} answered the login without a token")
        expires = parse_timestamp(data.get("expires")) or self._clock() + timedelta(hours=1)
        self._token = _Token(value, expires)
        return self._token

    async def _renew(self, current: _Token) -> _Token:
        """GET /api/tokens for a fresh day; a refused renewal falls back to a full login."""
        resp = await self.call("GET", "/api/tokens", token=current.value)
        if resp.status_code == 200:
            return self._token_from(self.json(resp))
        if _is_stale_token_answer(resp.status_code, error_message(resp), None):
            return await self._login()
        self.raise_for(resp, "renew its login token")

    async def _valid_token(self) -> str:
        """The current token, logging in or renewing first when it is missing or nearly expired."""
        async with self._lock:
            now, token = self._clock(), self._token
            if token is None or token.expires <= now:
                token = await self._login()
            elif token.expires - now <= self._renew_before:
                token = await self._renew(token)
            return token.value

    async def _relogin(self, stale: str) -> str:
        """Log in again unless a concurrent call already replaced the stale token."""
        async with self._lock:
            if self._token is None or self._token.value == stale:
                return (await self._login()).value
            return self._token.value

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
        item_id: int | None = None,
    ) -> httpx.Response:
        """An authenticated call; a stale-token answer earns one fresh login and one retry."""
        token = await self._valid_token()
        resp = await self.call(method, path, token=token, json=json, params=params)
        if _is_stale_token_answer(resp.status_code, error_message(resp), item_id):
            log.info("NPM refused our token (HTTP %s); logging in again", resp.status_code)
            token = await self._relogin(token)
            resp = await self.call(method, path, token=token, json=json, params=params)
        return resp

    # ----------------------------------------------------------------- server facts

    async def status(self) -> dict[str, Any]:
        """`GET /api/` (no login needed): NPM's version and whether its setup is finished.

        Any other answer means the address is not NPM's admin API (WrongService), never that
        the credentials are wrong: they are not sent here.
        """
        resp = await self.call("GET", "/api/")
        if resp.status_code in (502, 503, 504):
            self.raise_for(resp, "report its status")
        try:
            data = resp.json() if resp.status_code == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("version"), dict):
            raise WrongService(self._not_npm(resp))
        return data

    def _not_npm(self, resp: httpx.Response) -> str:
        kind = resp.headers.get("content-type", "").split(";")[0].strip() or "no content type"
        what = "a web page" if "html" in kind else f"HTTP {resp.status_code} ({kind})"
        return (
            f"{self.base}/api/ answered {what}, not Nginx Proxy Manager's API: this is the "
            "wrong port or path. Use NPM's admin address (port 81 in NPM's image, not the "
            "proxy ports 80/443 nor its backend), with no path, e.g. http://npm:81"
        )

    async def server_version(self, *, fresh: bool = False) -> tuple[int, int, int]:
        """NPM's version (cached unless `fresh`): decides which optional fields we may send."""
        if self._version is None or fresh:
            raw = (await self.status())["version"]
            self._version = (
                as_int(raw.get("major")),
                as_int(raw.get("minor")),
                as_int(raw.get("revision")),
            )
        return self._version
