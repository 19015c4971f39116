"""Recording a configuration change: which fields changed, never what they hold.

A change is compared field by field (before and after, as plain mappings); only the names of
the fields that differ go into the row. Stored secrets are compared as their ciphertexts and
named without the `_enc` suffix, so a new token shows as `token` changed, never its value.
A refused change (a field error, a conflict) leaves one row too, with the fields it named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from services.audit.log import Actor, AuditLog, Target
from services.errors import Conflict, NotFound, ValidationFailed, WatcherError
from services.store.models import AuditOutcome

T = TypeVar("T")
CONFIG_CHANGE = "config_change"
_NOT_COMPARED = frozenset({"id", "created_at", "updated_at"})


def fields_of(value: object) -> dict[str, Any]:
    """A row, a pydantic model or a dataclass view as a plain mapping (None: empty)."""
    if value is None:
        return {}
    if isinstance(value, BaseModel):  # attributes as they are: no serialising (and its warnings)
        return {name: getattr(value, name) for name in type(value).model_fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot compare {type(value).__name__}")


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Names of the fields whose values differ (secrets named without `_enc`), sorted."""
    names = (set(before) | set(after)) - _NOT_COMPARED
    differ = {n.removesuffix("_enc") for n in names if before.get(n) != after.get(n)}
    return sorted(differ)


async def record_change(
    audit: AuditLog,
    actor: Actor,
    target: Target,
    work: Awaitable[T],
    *,
    change: str = "update",
    before: Mapping[str, Any] | None = None,
    after: Callable[[T], Mapping[str, Any]] | None = None,
    facts: Callable[[T], Mapping[str, Any]] | None = None,
    action: str = CONFIG_CHANGE,
) -> T:
    """Await `work` and leave one audit row: the fields changed (`before` against `after` of
    the result) and any other non-secret `facts` of the result, or the refusal; the refusal
    is raised on."""
    try:
        result = await work
    except WatcherError as exc:
        detail: dict[str, Any] = {"change": change}
        if isinstance(exc, ValidationFailed):
            detail["fields"] = sorted({e.path for e in exc.errors})
        refused = isinstance(exc, ValidationFailed | Conflict | NotFound)
        outcome = AuditOutcome.REFUSED if refused else AuditOutcome.FAILED
        await audit.record(actor, action, target, outcome=outcome, detail=detail, message=_why(exc))
        raise
    detail = {"change": change}
    if after is not None:
        detail["fields"] = changed_fields(before or {}, after(result))
    if facts is not None:
        detail.update(facts(result))
    await audit.record(actor, action, target, detail=detail)
    return result


def _why(exc: WatcherError) -> str:
    """What kind of refusal, never the error's text: it could quote a submitted value."""
    if isinstance(exc, ValidationFailed):
        return "invalid input"
    return type(exc).__name__
