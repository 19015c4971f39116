"""Recording who did what, for the audit log.

Whoever acts (a route or page for a person, the webhook, the poller, the product itself)
passes an `Actor`; services that change things call `AuditLog.record`. Only names of changed
fields and non-secret facts (tag, digest) go into a row's detail: never a secret value.
Recording never fails the action it records: a failed write is logged and the action goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.store.audit import AuditStore
from services.store.models import ActorKind, AuditEvent, AuditOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user (by name) or the product on its own, and from where."""

    name: str
    kind: ActorKind = ActorKind.USER
    address: str = ""  # the client address of the request, when there is one

    @classmethod
    def user(cls, username: str, address: str = "") -> Actor:
        return cls(username, ActorKind.USER, address)


WEBHOOK = Actor("webhook", ActorKind.WEBHOOK)
POLLER = Actor("poller", ActorKind.POLLER)
SYSTEM = Actor("system", ActorKind.SYSTEM)


@dataclass(frozen=True)
class Target:
    """What was acted on; all parts optional."""

    project: str | None = None
    stage: str | None = None
    instance_id: int | None = None
    other: str = ""  # a settings section, a username, a registry name


class AuditLog:
    """Appends audit rows (off the event loop)."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def record(
        self,
        actor: Actor,
        action: str,
        target: Target = Target(),
        *,
        outcome: AuditOutcome = AuditOutcome.OK,
        detail: Mapping[str, Any] | None = None,
        message: str = "",
    ) -> None:
        """Append one row; a failure to write is logged, never raised to the action."""
        event = _event(actor, action, target, outcome, detail, message)
        try:
            await asyncio.to_thread(self._store.append, event)
        except Exception:
            log.exception("could not write the audit row for %s by %s", action, actor.name)


def _event(
    actor: Actor,
    action: str,
    target: Target,
    outcome: AuditOutcome,
    detail: Mapping[str, Any] | None,
    message: str,
) -> AuditEvent:
    return AuditEvent(
        actor=actor.name,
        actor_kind=actor.kind,
        action=action,
        outcome=outcome,
        project_name=target.project,
        stage_name=target.stage,
        instance_id=target.instance_id,
        target=target.other,
        detail=dict(detail or {}),
        address=actor.address,
        message=message,
    )
