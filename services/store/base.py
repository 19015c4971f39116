"""Small helpers shared by the stores."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel

from services.errors import NotFound

T = TypeVar("T", bound=SQLModel)


def get_or_raise(session: Session, model: type[T], ident: Any, what: str) -> T:
    """Fetch a row by primary key or raise NotFound naming the kind of thing."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{what} {ident} not found")
    return row


def apply_changes(row: SQLModel, changes: dict[str, Any]) -> None:
    """Set attributes on a row, refusing names the model does not have (a programming error)."""
    for name, value in changes.items():
        if name not in type(row).model_fields:
            raise AttributeError(f"{type(row).__name__} has no field {name!r}")
        setattr(row, name, value)
