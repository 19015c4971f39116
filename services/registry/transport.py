"""One registry's HTTP exchanges: counted, with every httpx failure translated into ours.

Also the reading of a registry's error answers (``{"errors": [...]}``, ``Retry-After``) that both
the auth flow and the API calls need. Timeouts are the caller's ``httpx.AsyncClient`` settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from services import connection_trouble
from services.errors import RateLimited, UpstreamError

_log = logging.getLogger(__name__)
_MAX_DETAIL = 200

Params = tuple[tuple[str, str], ...]


class Transport:
    """Sends requests for one registry; `requests_made` counts them all, token fetches included."""

    def __init__(self, host: str, http: httpx.AsyncClient) -> None:
        self.host = host
        self.requests_made = 0
        self._http = http

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Params | None = None,
        target: str | None = None,
    ) -> httpx.Response:
        """One HTTP request, counted, with every transport failure translated.

        `target` names the other end in messages when it is not the registry itself (its
        token service).
        """
        where = target or f"registry at {self.host}"
        self.requests_made += 1
        try:
            response = await self._http.request(
                method, url, headers=headers, params=params, follow_redirects=True
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise connection_trouble.explain(exc, where, url) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{where}: {describe(exc)}") from exc
        _log.debug("%s %s -> %s", method, response.request.url.path, response.status_code)
        return response


def describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def error_detail(response: httpx.Response) -> tuple[str, str]:
    """The first ``{"errors": [{"code", "message"}]}`` entry of an error body ("" when absent)."""
    try:
        errors = response.json().get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(first, dict):
        return "", ""
    code, message = str(first.get("code") or ""), str(first.get("message") or "")
    return code[:_MAX_DETAIL], message[:_MAX_DETAIL]


def detail_text(response: httpx.Response) -> str:
    """` (CODE: message)` from an error body, or "" when it has none."""
    code, message = error_detail(response)
    return f" ({code}: {message})" if code or message else ""


def rate_limited(host: str, response: httpx.Response) -> RateLimited:
    """RateLimited for a 429, carrying how long the registry asked us to wait."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return RateLimited(f"registry {host} is rate limiting{detail_text(response)}", retry_after)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date), or None."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
