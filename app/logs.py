"""Structured JSON logging: one object per line on stdout, with context and secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from services import log_context
from services.redaction import MASK, Redactor

_RESERVED = ("message", "level", "logger", "time")
# The webhook URL carries its secret (or someone's guess at it): never log that path segment.
_WEBHOOK_PATH = re.compile(r"(/api/webhook/)[^/\s\"?]+")


class WatcherJsonFormatter(JsonFormatter):
    """Adds the bound log context, masks sensitive fields, then masks known secret values."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        self._redactor = redactor

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of message
        for key, value in log_context.current().items():
            log_data.setdefault(key, value)
        for key in list(log_data):
            if key not in _RESERVED and Redactor.is_sensitive_key(key):
                log_data[key] = MASK

    def format(self, record: logging.LogRecord) -> str:
        text = self._redactor.redact(super().format(record))
        return _WEBHOOK_PATH.sub(r"\1" + MASK, text)


def configure_logging(level: str, redactor: Redactor, stream: Any = None) -> None:
    """Route every logger (ours, uvicorn's, NiceGUI's) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(WatcherJsonFormatter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "nicegui"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
