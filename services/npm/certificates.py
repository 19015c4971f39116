"""The certificates NPM holds, and choosing one for a new proxy host.

Attaching an existing certificate (usually a wildcard) to a new host, instead of asking Let's
Encrypt for one per host, keeps a busy preview setup under Let's Encrypt's rate limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from services.errors import UpstreamError
from services.npm.session import NpmSession
from services.npm.values import NO_MATCH, Certificate

CERTIFICATES_PATH = "/api/nginx/certificates"
EXPIRING_WITHIN = timedelta(days=14)
# New hosts pick from a list at most this old: one listing serves a burst of deploys, and a
# certificate added in NPM is used within a minute (every full listing refreshes it).
LIST_REUSED_FOR = timedelta(seconds=60)


def best_covering(
    certificates: Iterable[Certificate], fqdn: str, now: datetime
) -> Certificate | None:
    """The valid certificate for `fqdn`: an exact name beats a wildcard; among equals, the one
    expiring last. Expired ones (and those of unknown expiry) are never chosen."""
    usable = [
        (match, cert)
        for cert in certificates
        if (match := cert.match_for(fqdn)) != NO_MATCH and cert.is_valid(now)
    ]
    if not usable:
        return None
    return max(usable, key=lambda pair: (pair[0], pair[1].expires_on or now))[1]


def certificate_warnings(
    certificates: Iterable[Certificate], domain: str, now: datetime
) -> list[str]:
    """What a person should act on: certificates expiring within 14 days (or already expired
    and still held), and no valid certificate for `*.<domain>` (new hosts would get none)."""
    held = list(certificates)
    notes = [
        f"certificate #{c.id} ({', '.join(c.domain_names) or c.nice_name}) "
        + _expiry_text(c.expires_on, now)
        for c in held
        if c.expires_on is not None and c.expires_on - now < EXPIRING_WITHIN
    ]
    if domain and not any(c.is_wildcard_for(domain, now) for c in held):
        notes.append(
            f"no valid certificate in NPM covers *.{domain}: new hosts get plain HTTP. Add a "
            f"wildcard certificate for *.{domain} in NPM (DNS challenge) or choose one here"
        )
    return notes


def _expiry_text(expires_on: datetime, now: datetime) -> str:
    if expires_on <= now:
        return f"expired on {expires_on.date().isoformat()}: renew or replace it in NPM"
    days = (expires_on - now).days
    return f"expires on {expires_on.date().isoformat()} (in {days} day(s)): renew it in NPM"


class Certificates:
    """Reads NPM's certificates (Let's Encrypt and uploaded ones); never creates any."""

    def __init__(self, session: NpmSession, clock: Callable[[], datetime]) -> None:
        self._session = session
        self._clock = clock
        self._listed: tuple[datetime, list[Certificate]] | None = None

    async def all(self) -> list[Certificate]:
        """Every certificate NPM holds (asked now)."""
        resp = await self._session.request("GET", CERTIFICATES_PATH)
        if resp.status_code != 200:
            self._session.raise_for(resp, "list certificates")
        data = self._session.json(resp)
        if not isinstance(data, list):
            raise UpstreamError("NPM listed certificates as something other than a list")
        listed = [Certificate.from_api(item) for item in data if isinstance(item, dict)]
        self._listed = (self._clock(), listed)
        return listed

    async def covering(self, fqdn: str) -> Certificate | None:
        """The certificate to attach to a new host for `fqdn` (see `best_covering`); from a
        listing up to `LIST_REUSED_FOR` old (a deploy's route step is on its critical path)."""
        now = self._clock()
        if self._listed is not None and now - self._listed[0] < LIST_REUSED_FOR:
            return best_covering(self._listed[1], fqdn, now)
        return best_covering(await self.all(), fqdn, now)

    async def wildcard_for(self, domain: str) -> Certificate | None:
        """A valid certificate for `*.<domain>`, the one expiring last; None when there is none."""
        now = self._clock()
        usable = [c for c in await self.all() if c.is_wildcard_for(domain, now)]
        return max(usable, key=lambda c: c.expires_on or now, default=None)
