"""Pulling an image in a worker thread, with its progress handed to the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import docker.errors
import docker.utils

from services.docker_engine.failures import explain, pull_error
from services.docker_engine.mapping import digest_from_status
from services.types import PullProgress, PullUpdate

Report = Callable[[dict[str, Any]], None]


def pull(api: Any, ref: str, auth: tuple[str, str] | None, report: Report) -> str | None:
    """Pull `ref` (no tag means `latest`), calling `report` per stream item; the pulled digest
    when the engine said it. A failure arrives as an APIError or as an `error` stream item:
    both become our errors (see `pull_error`)."""
    repository, tag = docker.utils.parse_repository_tag(ref)
    auth_config = {"username": auth[0], "password": auth[1]} if auth else None
    digest: str | None = None
    try:
        stream = api.pull(
            repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config
        )
        for item in stream:
            if "error" in item:
                raise pull_error(ref, str(item.get("error")))
            digest = digest_from_status(item) or digest
            report(item)
    except docker.errors.APIError as exc:
        raise pull_error(ref, explain(exc)) from exc
    return digest


def progress_sink(loop: asyncio.AbstractEventLoop, progress: PullProgress | None) -> Report:
    """A thread-side callback forwarding each new (layer, status) pair to `progress` on the loop."""
    last: dict[str | None, str] = {}

    def report(item: dict[str, Any]) -> None:
        layer, status = item.get("id"), str(item.get("status", ""))
        if progress is None or not status or last.get(layer) == status:
            return
        last[layer] = status
        detail = item.get("progressDetail") or {}
        update = PullUpdate(status, layer, detail.get("current"), detail.get("total"))
        loop.call_soon_threadsafe(progress, update)

    return report
