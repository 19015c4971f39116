"""JSON log lines carry context and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.logs import configure_logging
from services import log_context
from services.redaction import MASK, Redactor


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, Redactor]]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream, redactor = io.StringIO(), Redactor()
    configure_logging("debug", redactor, stream)
    yield stream, redactor
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_context(capture: tuple[io.StringIO, Redactor]) -> None:
    stream, _ = capture
    log = logging.getLogger("dw.test")
    with log_context.bind(project="web", stage="dev", tag="dev-1", deploy_id=7):
        log.info("pulled %s", "image")
    log.warning("outside")
    first, second = lines(stream)
    assert first["message"] == "pulled image"
    assert (first["project"], first["stage"], first["tag"], first["deploy_id"]) == (
        "web",
        "dev",
        "dev-1",
        7,
    )
    assert first["level"] == "INFO" and first["logger"] == "dw.test" and "time" in first
    assert "project" not in second


def test_registered_secret_is_masked_everywhere(capture: tuple[io.StringIO, Redactor]) -> None:
    stream, redactor = capture
    secret = "s3cr3t-t0ken-value"
    redactor.register(secret)
    log = logging.getLogger("dw.test")
    log.error("login failed with %s", secret, extra={"detail": f"header Bearer {secret}"})
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        log.exception("crash")
    log.info("quoted", extra={"body": {"token": secret, "note": f'say "{secret}"'}})
    text = stream.getvalue()
    assert secret not in text
    assert text.count(MASK) >= 4


def test_sensitive_field_names_are_masked(capture: tuple[io.StringIO, Redactor]) -> None:
    stream, _ = capture
    logging.getLogger("dw.test").info("x", extra={"password": "hunter2", "npm_token": "abc"})
    (line,) = lines(stream)
    assert line["password"] == MASK and line["npm_token"] == MASK
    assert "hunter2" not in stream.getvalue()


def test_context_does_not_leak_between_tasks() -> None:
    with log_context.bind(project="a"):
        assert log_context.current() == {"project": "a"}
        with log_context.bind(stage="dev", tag=None):
            assert log_context.current() == {"project": "a", "stage": "dev"}
        assert log_context.current() == {"project": "a"}
    assert log_context.current() == {}


def test_webhook_secret_in_a_path_is_masked(capture: tuple[io.StringIO, Redactor]) -> None:
    stream, _ = capture
    logging.getLogger("dw.test.access").info(  # the formatter masks any logger's line
        '%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5", "POST", "/api/webhook/0f1e2d3c-guess", 404
    )
    text = stream.getvalue()
    assert "0f1e2d3c-guess" not in text and f"/api/webhook/{MASK}" in text
