"""The app's REST API over a real Runtime on a temporary data dir, driven in-process by httpx.

The same guards and routes as the real process (`AuthGuard`, `add_web_security`,
`register_routes`) on a plain FastAPI app, so no NiceGUI server or port is needed; the runtime
is the app's own graph (`tests.support.runtime`: SQLite, the real Docker Engine, real HTTP
clients). `sign_in` logs in as the admin and sends the bearer token on every request, as scripts
do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.api.routes import register_routes
from app.auth_guard import AuthGuard
from app.web_security import add_web_security
from app.wiring import Runtime
from tests.support.auth_fakes import ADMIN_PASSWORD
from tests.support.runtime import add_admin, open_runtime, settings_for


@dataclass
class ApiApp:
    runtime: Runtime
    api: FastAPI
    client: httpx.AsyncClient  # signed in (bearer token)


def build_api(runtime: Runtime) -> FastAPI:
    api = FastAPI(title="Docker Watcher")
    api.add_middleware(AuthGuard, auth=runtime.auth)
    add_web_security(api, runtime.settings)
    register_routes(api, runtime)
    return api


async def sign_in(client: httpx.AsyncClient) -> str:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    answer = await client.post("/api/auth/login", json=login)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    client.cookies.clear()  # the bearer token alone, as a script sends it
    client.headers["Authorization"] = f"Bearer {token}"
    return token


@asynccontextmanager
async def api_app(data_dir: Path, **env: str) -> AsyncIterator[ApiApp]:
    """A signed-in client over a fresh runtime; deploys are drained and clients closed after."""
    runtime = open_runtime(settings_for(data_dir, **env))
    add_admin(runtime)
    api = build_api(runtime)
    transport = httpx.ASGITransport(api)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as client:
            await sign_in(client)
            yield ApiApp(runtime, api, client)
    finally:
        await runtime.close(drain_seconds=60, notify_grace=1)


def errors(response: httpx.Response, status: int) -> dict[str | None, str]:
    """The error shape's entries as {field: message}, after checking the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"} and body["errors"]
    assert all(set(e) == {"field", "message"} for e in body["errors"])
    return {e["field"]: e["message"] for e in body["errors"]}
