"""Engine, docker-py and requests failures as our own errors, with the engine's own words."""

from __future__ import annotations

from typing import Any

import docker.errors
import requests.exceptions
import urllib3.exceptions

from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    NotFound,
    Timeout,
    UpstreamError,
    WatcherError,
)


def root_cause(exc: BaseException) -> str:
    """The innermost OSError's text (e.g. `[Errno 2] No such file or directory`) if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    best: BaseException = exc
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            best = current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return str(best)


def explain(exc: Any) -> str:
    """The engine's own message of an APIError, without docker-py's URL noise."""
    return str(getattr(exc, "explanation", None) or exc)


def api_error(what: str, exc: Any) -> WatcherError:
    status = getattr(exc, "status_code", None)
    message = f"{what}: {explain(exc)}"
    if isinstance(exc, docker.errors.NotFound) or status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status in (401, 403):
        return InvalidAuth(message)
    return UpstreamError(f"{what}: Docker Engine answered {status}: {explain(exc)}")


_PULL_ERRORS: tuple[tuple[tuple[str, ...], type[WatcherError], str], ...] = (
    (("manifest unknown", "not found", "does not exist"), NotFound, "not found in its registry"),
    (
        ("unauthorized", "authentication required", "no basic auth", "denied", "incorrect user"),
        InvalidAuth,
        "the registry refused the credentials",
    ),
    (
        ("dial tcp", "connection refused", "no such host", "unreachable", "http response to https"),
        CannotConnect,
        "registry not reachable",
    ),
    (("timeout", "deadline exceeded"), Timeout, "registry did not answer in time"),
)


def pull_error(ref: str, message: str) -> WatcherError:
    """Classify the engine's pull failure text, which arrives as HTTP 500/404 or a stream item."""
    lowered = message.lower()
    for needles, kind, summary in _PULL_ERRORS:
        if any(needle in lowered for needle in needles):
            return kind(f"Pulling {ref} failed: {summary} ({message})")
    return UpstreamError(f"Pulling {ref} failed: {message}")


def unreachable(where: str, exc: BaseException) -> str:
    return f"Docker Engine not reachable at {where}: {root_cause(exc)}"


def translate(what: str, exc: Exception, *, where: str, timeout: int) -> WatcherError | None:
    """Our error for a docker-py, requests, urllib3 or socket exception; None for anything else
    (a bug of ours, to be raised as it is). `where` is the engine's address, `timeout` its
    client timeout in seconds, both for the message."""
    if isinstance(exc, docker.errors.APIError):
        return api_error(what, exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return CannotConnect(unreachable(where, exc))
    if isinstance(exc, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError):
        return Timeout(f"{what}: Docker Engine at {where} did not answer within {timeout} s")
    connection_errors = requests.exceptions.RequestException | urllib3.exceptions.HTTPError
    if isinstance(exc, connection_errors | OSError):
        return CannotConnect(unreachable(where, exc))
    if isinstance(exc, docker.errors.DockerException):
        return UpstreamError(f"{what}: {exc}")
    return None
