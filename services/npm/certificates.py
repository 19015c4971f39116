"""The certificates NPM holds, and choosing a wildcard one for a new proxy host."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.errors import UpstreamError
from services.npm.session import NpmSession
from services.npm.values import Certificate

CERTIFICATES_PATH = "/api/nginx/certificates"


class Certificates:
    """Reads NPM's certificates (Let's Encrypt and uploaded ones); never creates any."""

    def __init__(self, session: NpmSession, clock: Callable[[], datetime]) -> None:
        self._session = session
        self._clock = clock

    async def all(self) -> list[Certificate]:
        """Every certificate NPM holds."""
        resp = await self._session.request("GET", CERTIFICATES_PATH)
        if resp.status_code != 200:
            self._session.raise_for(resp, "list certificates")
        data = self._session.json(resp)
        if not isinstance(data, list):
            raise UpstreamError("NPM listed certificates as something other than a list")
        return [Certificate.from_api(item) for item in data if isinstance(item, dict)]

    async def wildcard_for(self, domain: str) -> Certificate | None:
        """A valid certificate for `*.<domain>`, the one expiring last; None when there is none."""
        now = self._clock()
        usable = [c for c in await self.all() if c.is_wildcard_for(domain, now)]
        return max(usable, key=lambda c: c.expires_on or now, default=None)
