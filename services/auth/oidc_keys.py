"""The OIDC client's wire work: JSON fetches with our error vocabulary, and the JWKS cache.

Kept apart from the flow in `oidc.py` so each reads on its own. The key set is fetched on first
use and kept; a token naming a `kid` the cached set lacks refetches it once (the provider rotated
its keys), and a `kid` still unknown after that is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt

from services.errors import CannotConnect, InvalidAuth, Timeout, UpstreamError, WrongService

MAX_ANSWER_BYTES = 1024 * 1024  # a provider's answers are a few KiB


class OidcRefused(InvalidAuth):
    """A sign-in through the provider was refused; the message says why, with no secret."""


async def fetch_json(
    http: httpx.AsyncClient,
    url: str,
    what: str,
    *,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET (or POST a form to) one provider endpoint and return its JSON object.

    A provider's OAuth error answer (`{"error": ...}`) becomes `OidcRefused`; an unreachable or
    slow provider, or one answering something else than JSON, becomes our connection errors.
    """
    method = "GET" if data is None else "POST"
    form = None if data is None else dict(data)
    try:
        request = http.build_request(method, url, data=form, headers=dict(headers or {}))
        reply = await http.send(request, stream=True)
        try:
            content = await _read_capped(reply, what)
        finally:
            await reply.aclose()
    except httpx.TimeoutException as exc:
        raise Timeout(f"the OIDC provider's {what} did not answer in time") from exc
    except httpx.InvalidURL as exc:
        raise CannotConnect(f"the OIDC provider's {what} URL is not valid") from exc
    except httpx.TransportError as exc:
        host = httpx.URL(url).host
        raise CannotConnect(f"the OIDC provider at {host} could not be reached") from exc
    body = _json_object(content)
    if reply.is_success and body is not None:
        return body
    if body is not None and isinstance(body.get("error"), str):
        word = "".join(ch for ch in body["error"] if ch.isprintable())[:60]
        raise OidcRefused(f"the provider's {what} refused the request ({word})")
    if not reply.is_success:
        raise UpstreamError(f"the OIDC provider's {what} answered HTTP {reply.status_code}")
    raise WrongService(f"the OIDC provider's {what} did not answer with JSON")


async def _read_capped(reply: httpx.Response, what: str) -> bytes:
    """The body, refused past `MAX_ANSWER_BYTES` (a provider's answers are a few KiB)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in reply.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise WrongService(f"the OIDC provider's {what} answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class KeyCache:
    """The provider's signing keys, per JWKS URL, refetched once on an unknown `kid`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._sets: dict[str, jwt.PyJWKSet] = {}

    async def key_for(self, jwks_uri: str, token: str, algorithms: Sequence[str]) -> Any:
        """The public key that should verify `token`, or `OidcRefused`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcRefused("the ID token is not a signed JWT") from exc
        if header.get("alg") not in algorithms:
            raise OidcRefused("the ID token is signed with an algorithm we do not accept")
        kid = header.get("kid")
        cached = self._sets.get(jwks_uri)
        key = _find(cached, kid) if cached is not None else None
        if key is None:
            fresh = await self._fetch(jwks_uri)
            key = _find(fresh, kid)
        if key is None:
            raise OidcRefused("the ID token is signed by a key the provider does not publish")
        return key.key

    async def _fetch(self, jwks_uri: str) -> jwt.PyJWKSet:
        document = await fetch_json(self._http, jwks_uri, "key set (JWKS)")
        try:
            keys = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise WrongService("the OIDC provider's key set (JWKS) holds no usable key") from exc
        self._sets[jwks_uri] = keys
        return keys


def _find(keys: jwt.PyJWKSet, kid: object) -> jwt.PyJWK | None:
    """The key named `kid`; a token without `kid` may use a set's only key."""
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys.keys if key.key_id == kid), None)
