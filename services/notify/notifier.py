"""Notifications: the Notification value, delivery channels (JSON webhook), the background Notifier.

A failing notification never fails a deploy: `Notifier.notify` only schedules work and
logs failures. URLs are logged as `scheme://host[:port]` plus `/…`, since the query string and
often the path of a webhook URL (Slack, Discord, Gitea) carry its secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from services import log_context
from services.errors import CannotConnect, Timeout, UpstreamError, ValidationFailed, WatcherError
from services.urls import redact_url, validate_url

NotificationKind = Literal[
    "deploy_succeeded", "deploy_failed", "tag_waiting", "instance_lost", "test"
]

_log = logging.getLogger(__name__)

_TITLES: dict[str, str] = {
    "deploy_succeeded": "Deployed",
    "deploy_failed": "Deploy failed",
    "tag_waiting": "New tag waiting for deploy",
    "instance_lost": "Instance lost",
    "test": "Test notification from Docker Watcher",
}


@dataclass(frozen=True)
class Notification:
    """One event worth telling a person about; every channel renders it its own way."""

    kind: NotificationKind
    project: str | None = None
    stage: str | None = None
    tag: str | None = None
    url: str | None = None
    step: str | None = None
    error: str | None = None
    deploy_id: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def text(self) -> str:
        """A one-line human summary, e.g. `Deploy failed: web/dev dev-12 at health_check: ...`."""
        where = "/".join(part for part in (self.project, self.stage) if part)
        subject = " ".join(part for part in (where, self.tag) if part)
        line = f"{_TITLES[self.kind]}: {subject}" if subject else _TITLES[self.kind]
        if self.step:
            line += f" at {self.step}"
        if self.error:
            line += f": {self.error}"
        if self.url:
            line += f" ({self.url})"
        return line

    def to_json(self) -> dict[str, Any]:
        """The webhook body: every field, ISO time, and `text` so chat webhooks show something."""
        return {
            "event": self.kind,
            "project": self.project,
            "stage": self.stage,
            "tag": self.tag,
            "url": self.url,
            "step": self.step,
            "error": self.error,
            "deploy_id": self.deploy_id,
            "at": self.at.isoformat(),
            "text": self.text,
        }


class Channel(Protocol):
    """A way to deliver notifications; `send` raises our errors (CannotConnect, Timeout, ...)."""

    @property
    def name(self) -> str:
        """A display name safe to log and show (no secrets)."""
        ...

    async def send(self, n: Notification) -> None:
        """Deliver one notification or raise a WatcherError saying why not."""
        ...


@dataclass(frozen=True)
class ChannelResult:
    """The outcome of a test send on one channel, for the Settings page."""

    channel: str
    ok: bool
    error: str | None = None


class WebhookChannel:
    """POSTs the notification as JSON to a URL; any 2xx answer counts as delivered."""

    def __init__(self, url: str, client: httpx.AsyncClient, timeout: float = 10.0) -> None:
        self._url = validate_url(url)
        self._client = client
        self._timeout = timeout
        self.name = f"webhook {redact_url(self._url)}"

    async def send(self, n: Notification) -> None:
        """POST `n.to_json()`; raises CannotConnect, Timeout or UpstreamError (non-2xx)."""
        try:
            response = await self._client.post(
                self._url, json=n.to_json(), timeout=self._timeout, follow_redirects=False
            )
        except httpx.TimeoutException:
            raise Timeout(f"{self.name} did not answer within {self._timeout:g} s") from None
        except httpx.TransportError as exc:
            reason = str(exc).replace(self._url, self.name) or type(exc).__name__
            raise CannotConnect(f"cannot reach {self.name}: {reason}") from None
        if not response.is_success:
            raise UpstreamError(f"{self.name} answered HTTP {response.status_code}")


def channels_from_urls(
    urls: Iterable[str], client: httpx.AsyncClient, *, timeout: float = 10.0
) -> list[WebhookChannel]:
    """One WebhookChannel per non-blank URL (the `notification_url` setting may hold several).

    An invalid stored URL is skipped with a warning instead of raising: a bad notification
    setting must not stop the process from starting. Validate on save with `validate_url`.
    """
    channels: list[WebhookChannel] = []
    for url in (u.strip() for u in urls):
        if not url:
            continue
        try:
            channels.append(WebhookChannel(url, client, timeout))
        except ValidationFailed as exc:
            _log.warning("skipping notification URL: %s", exc)
    return channels


class Notifier:
    """Fans a notification out to every channel in the background; never raises into callers.

    Built once in the composition root; the deployer and webhook intake call `notify`.
    """

    def __init__(
        self,
        channels: Sequence[Channel] = (),
        *,
        timeout: float = 15.0,
        max_pending: int = 100,
        logger: logging.Logger | None = None,
    ) -> None:
        self._channels: tuple[Channel, ...] = tuple(channels)
        self._timeout = timeout
        self._max_pending = max_pending
        self._log = logger or _log
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels in use (for the Settings page)."""
        return self._channels

    @property
    def pending(self) -> int:
        """How many sends are still running (tests and shutdown wait on this)."""
        return len(self._pending)

    def replace_channels(self, channels: Sequence[Channel]) -> None:
        """Use new channels from now on (the notification URL changed in Settings)."""
        self._channels = tuple(channels)

    def notify(self, n: Notification) -> None:
        """Schedule `n` on every channel and return at once; failures are only logged.

        Must be called from the event loop's thread. Dropped with a warning after `aclose`, without
        a running loop, or when `max_pending` sends are already in flight (a hanging endpoint).
        """
        try:
            self._schedule(n)
        except Exception:
            self._log.exception("could not schedule notification %s", n.kind)

    async def send_test(self) -> list[ChannelResult]:
        """Send a `test` notification on every channel and wait: the Settings "send test" button.

        Returns one result per channel (an empty list when none is configured); never raises.
        """
        probe = Notification(kind="test")
        return list(await asyncio.gather(*(self._try(ch, probe) for ch in self._channels)))

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop accepting notifications, wait up to `grace` s for pending sends, cancel the rest.

        Called at shutdown after running deploys finished, so their last notifications go out.
        """
        self._closed = True
        if not self._pending:
            return
        _done, late = await asyncio.wait(set(self._pending), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            self._log.warning("dropped %d notification(s) still sending at shutdown", len(late))
            await asyncio.wait(late)

    def _schedule(self, n: Notification) -> None:
        if self._closed:
            self._log.warning("notifier is closed; dropped notification %s", n.kind)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._log.warning("no running event loop; dropped notification %s", n.kind)
            return
        for channel in self._channels:
            if len(self._pending) >= self._max_pending:
                self._log.warning("too many notifications in flight; dropped %s", n.kind)
                return
            task = loop.create_task(self._deliver(channel, n), name=f"notify {n.kind}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _deliver(self, channel: Channel, n: Notification) -> None:
        with log_context.bind(project=n.project, stage=n.stage, tag=n.tag, deploy_id=n.deploy_id):
            result = await self._try(channel, n)
            if not result.ok:
                self._log.warning(
                    "notification %s via %s failed: %s", n.kind, result.channel, result.error
                )

    async def _try(self, channel: Channel, n: Notification) -> ChannelResult:
        name = channel.name
        try:
            async with asyncio.timeout(self._timeout):
                await channel.send(n)
        except TimeoutError:
            return ChannelResult(name, False, f"no answer within {self._timeout:g} s")
        except WatcherError as exc:
            return ChannelResult(name, False, str(exc))
        except Exception as exc:
            self._log.exception("notification channel %s crashed", name)
            return ChannelResult(name, False, f"unexpected {type(exc).__name__}")
        return ChannelResult(name, True)
