"""POST /api/webhook/{secret}: registries and CI report pushed images (no session needed).

HTTP plumbing only: the secret is checked before a byte of the body is read, the body is read
with a size cap, and the rest is `services.detect.webhook.WebhookReceiver`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.detect.webhook import MAX_BODY, NOT_FOUND, WebhookReceiver

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "ours, or a Gitea/Forgejo or GitHub package event",
                "properties": {
                    "image": {"type": "string", "example": "ghcr.io/owner/app:v1.2.0"},
                    "digest": {
                        "type": "string",
                        "pattern": "^sha256:[0-9a-f]{64}$",
                        "description": "optional and not trusted: the registry's digest is used",
                    },
                },
            }
        }
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "accepted; `results` lists the decision for every stage (`queued`, "
        "`merged` into a deploy of the tag already queued, `waiting`, `refused`, `ignored`)"
    },
    400: {"description": "the body is not JSON"},
    401: {"description": "a signature header does not match"},
    404: {"description": "unknown secret (the same answer as a path that does not exist)"},
    413: {"description": f"the body is larger than {MAX_BODY} bytes"},
    422: {"description": "a field is missing or invalid (named in `loc`)"},
    429: {"description": "too many requests from this address; `Retry-After` says when to retry"},
    503: {"description": "the watcher is stopping (restart); `Retry-After` says when to retry"},
}
RESTART_RETRY_AFTER = 30  # seconds


def register(api: FastAPI, receiver: WebhookReceiver, accepting: Callable[[], bool]) -> None:
    """`accepting` is False once the process is stopping: pushes are then answered 503 with
    Retry-After, so the CI retries against the restarted watcher instead of losing them."""

    @api.post(
        # `:path` so that every guess, even one with a slash ("x/"), reaches the same 404
        # below instead of the router's trailing-slash redirect: one answer for every wrong URL.
        "/api/webhook/{secret:path}",
        tags=["webhook"],
        summary="Report a pushed image",
        status_code=202,
        responses=_RESPONSES,
        openapi_extra={"requestBody": _REQUEST_BODY},
    )
    async def webhook(secret: str, request: Request) -> JSONResponse:
        """Deploys, records or ignores the pushed tag per stage; answers before deploys finish."""
        if not accepting():
            detail = "Docker Watcher is restarting; try again shortly"
            headers = {"Retry-After": str(RESTART_RETRY_AFTER)}
            return JSONResponse({"detail": detail}, status_code=503, headers=headers)
        client = request.client.host if request.client else "unknown"
        wait = receiver.admit(client)
        if wait:
            detail = f"too many requests from this address; try again in {wait} s"
            headers = {"Retry-After": str(wait)}
            return JSONResponse({"detail": detail}, status_code=429, headers=headers)
        key = await receiver.authenticate(secret)
        if key is None:
            receiver.denied(client)
            return JSONResponse(NOT_FOUND, status_code=404)
        body = await read_limited(request, MAX_BODY)
        if body is None:
            detail = f"the body is larger than {MAX_BODY} bytes"
            return JSONResponse({"detail": detail}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = await receiver.receive(key, headers, body)
        return JSONResponse(answer.body, status_code=answer.status)


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it (or its announced length) exceeds `limit` bytes."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
