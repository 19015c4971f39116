"""In-process event bus: the deployer, instance controls and the reconciler publish; pages listen.

Subscribers are called synchronously on the event loop, in order; one failing subscriber is
logged and never stops the others or the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """`kind` is e.g. deploy.queued, deploy.step, deploy.log, deploy.finished, instance.changed."""

    kind: str
    project_id: int | None = None
    deploy_id: int | None = None
    instance_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Register a callback; returns the function that unsubscribes it."""
        self._subscribers.append(subscriber)
        return lambda: (
            self._subscribers.remove(subscriber) if subscriber in self._subscribers else None
        )

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a broken page must not break a deploy
                log.exception("event subscriber failed on %s", event.kind)
