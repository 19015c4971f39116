"""The secret webhook: who may call it, what a body must be, the answer.

Decisions, and why:
- The URL secret is the authentication. The given and stored secrets are both hashed with SHA-256
  and the digests compared with `hmac.compare_digest`: fixed-length inputs, so neither the length
  nor the content of a guess changes the work done. A wrong or malformed secret answers 404
  `{"detail": "Not Found"}`, the answer of a path that does not exist, before the body is read;
  it is logged at most once a minute with a count, never with the guess (it may be a near miss).
  The stored secret is read on every request, so regenerating it locks the old URL out at once.
- Signatures are optional. When a sender signs (a non-empty `X-Hub-Signature-256`,
  `X-Gitea-Signature` or `X-Forgejo-Signature`), the HMAC-SHA256 of the raw body (for Gitea's
  form encoding: of the `payload` JSON) must verify with the URL secret as key: put the same value
  in the registry's webhook "secret" field, or leave it empty. A mismatch answers 401. One secret,
  nothing else to store or rotate; a signature adds integrity over the body when present.
- Bodies: at most 64 KiB (413, checked by the route while reading); JSON, or Gitea's form
  encoding (`payload=`), else 400; wrong or missing fields 422 naming them (FastAPI's error
  shape). Nothing is recorded for a refused request. An accepted one answers 202 with every
  decision.
- Each client address (as uvicorn reports it: the proxy's X-Forwarded-For only when the proxy
  is trusted) may send `RATE_BURST` requests at once and `RATE_PER_SECOND` after that; more are
  answered 429 with Retry-After before the secret is even checked. This bounds secret guessing
  and floods of deliveries alike; a registry retries a 429 later.
- A digest in the body is checked for its form only: routing uses the registry's digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from services.auth.limits import RequestRate
from services.detect.decisions import Decision, Outcome
from services.detect.intake import Intake
from services.detect.webhook_payloads import Pushed, extract
from services.errors import FieldError, ValidationFailed, WatcherError
from services.registry.names import api_base_url
from services.store.models import DeployTrigger, RegistryType
from services.store.registries import RegistryStore

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
NOT_FOUND: dict[str, Any] = {"detail": "Not Found"}
SIGNATURE_HEADERS = ("x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature")
FORM = "application/x-www-form-urlencoded"
RATE_BURST = 60
RATE_PER_SECOND = 1.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class Rejected(WatcherError):
    """The body cannot be used; `status` is the HTTP answer (400 or 401)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def fingerprint(text: str) -> bytes:
    """SHA-256 of a secret: compared instead of the text so every comparison has one length."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def decode_body(body: bytes, content_type: str) -> tuple[bytes, object]:
    """(the JSON bytes, the parsed value); Rejected(400) for anything that is not JSON."""
    raw = body
    if content_type.split(";", 1)[0].strip().lower() == FORM:
        try:
            payload = parse_qs(body.decode("utf-8"), max_num_fields=20).get("payload")
        except ValueError:
            payload = None
        if not payload:
            raise Rejected(400, "a form-encoded webhook must carry its JSON in 'payload'")
        raw = payload[0].encode("utf-8", "surrogatepass")
    try:
        return raw, json.loads(raw)
    except (ValueError, RecursionError):
        raise Rejected(400, "the body is not valid JSON") from None


def verify_signatures(headers: Mapping[str, str], signed: tuple[bytes, ...], key: str) -> None:
    """Check every non-empty signature header against the HMAC of one of the `signed` forms."""
    for header in SIGNATURE_HEADERS:
        given = headers.get(header, "").strip()
        if not given:
            continue
        value = given.removeprefix("sha256=").lower().encode("utf-8", "replace")
        expected = [hmac.new(key.encode(), s, hashlib.sha256).hexdigest().encode() for s in signed]
        if not any(hmac.compare_digest(value, e) for e in expected):
            raise Rejected(
                401,
                f"{header} does not match: set the webhook's secret to the secret of its URL, "
                "or leave it empty",
            )


class Denials:
    """Logs refused secrets at most once per `every` seconds, with how many there were."""

    def __init__(self, every: float, clock: Callable[[], float]) -> None:
        self._every = every
        self._clock = clock
        self._next = 0.0
        self._count = 0

    def record(self, client: str) -> None:
        self._count += 1
        now = self._clock()
        if now < self._next:
            return
        log.warning(
            "webhook: %d request(s) with a wrong secret answered 404 (latest from %s)",
            self._count,
            client,
        )
        self._count, self._next = 0, now + self._every


class WebhookReceiver:
    """Authenticates webhook calls and turns accepted bodies into intake decisions."""

    def __init__(
        self,
        secret: Callable[[], str],
        registries: RegistryStore,
        intake: Intake,
        *,
        log_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rate: RequestRate | None = None,
    ) -> None:
        self._secret = secret
        self._registries = registries
        self._intake = intake
        self._denials = Denials(log_every, clock)
        self._clock = clock
        self._rate = RequestRate(rate=RATE_PER_SECOND, burst=RATE_BURST) if rate is None else rate

    def admit(self, client: str) -> int:
        """Count a request from `client`: 0 when it may go on, else whole seconds to wait."""
        wait = self._rate.take(client, self._clock())
        return math.ceil(wait) if wait > 0 else 0

    async def authenticate(self, given: str) -> str | None:
        """The stored secret when `given` is it (constant-time), else None."""
        expected = await asyncio.to_thread(self._secret)
        return expected if hmac.compare_digest(fingerprint(given), fingerprint(expected)) else None

    def denied(self, client: str) -> None:
        """Note a refused secret (rate-limited log line; nothing else is recorded)."""
        self._denials.record(client)

    async def receive(self, secret: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Check and route an authenticated body; `headers` with lowercase keys."""
        try:
            raw, data = decode_body(body, headers.get("content-type", ""))
            verify_signatures(headers, (body, raw), secret)
            hosts = await asyncio.to_thread(self._gitea_hosts) if _needs_host(data) else ()
            found = extract(data, headers, hosts)
        except Rejected as exc:
            return _rejected(exc)
        except ValidationFailed as exc:
            return Answer(422, {"detail": [_field_error(e) for e in exc.errors]})
        results = [o for pushed in found.pushed for o in await self._route(pushed)]
        body_out = {"results": [o.to_json() for o in results], "ignored": list(found.ignored)}
        return Answer(202, body_out)

    async def _route(self, pushed: Pushed) -> list[Outcome]:
        try:
            return await self._intake.route(pushed, DeployTrigger.WEBHOOK)
        except WatcherError as exc:  # e.g. the database or the engine failing right now
            log.warning("webhook: routing %s failed: %s", pushed.ref, exc)
            return [Outcome(str(pushed.ref), None, (Decision("ignored", f"error: {exc}"),))]

    def _gitea_hosts(self) -> list[str]:
        hosts = []
        for registry in self._registries.all():
            if registry.type != RegistryType.GITEA:
                continue
            try:
                hosts.append(api_base_url(registry.url, "gitea").split("://", 1)[1].lower())
            except ValidationFailed:
                continue
        return hosts


def _needs_host(data: object) -> bool:
    """Only Gitea bodies lack a registry host (ours and GitHub's carry one)."""
    return isinstance(data, dict) and "image" not in data and "package" in data


def _rejected(exc: Rejected) -> Answer:
    if exc.status == 400:
        detail = [{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}]
        return Answer(400, {"detail": detail})
    return Answer(exc.status, {"detail": str(exc)})


def _field_error(error: FieldError) -> dict[str, Any]:
    loc = ["body", *error.path.split(".")] if error.path and error.path != "body" else ["body"]
    return {"loc": loc, "msg": error.message, "type": "value_error"}
