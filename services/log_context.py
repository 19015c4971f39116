"""Context carried into every log line (project, stage, tag, deploy id) via context variables.

Services bind context around a unit of work; `app.logs` reads it when formatting. Using
contextvars means concurrent deploys on one event loop never mix their context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("dw_log_context", default=None)


def current() -> dict[str, Any]:
    """The context bound right now (a copy, safe to mutate)."""
    return dict(_context.get() or {})


@contextmanager
def bind(**values: Any) -> Iterator[None]:
    """Add values to the log context for the duration of the block (None values are dropped)."""
    merged = current()
    merged.update({k: v for k, v in values.items() if v is not None})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)
