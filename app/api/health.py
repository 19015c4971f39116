"""Health: GET /healthz for anyone (ok or not), GET /api/health with details for signed-in users.

The public answer says only whether the database and the engine work: no versions, no error
texts. An engine version or an error message tells an anonymous caller which exploits to try
and how the host is set up; a load balancer or Docker's health check needs nothing beyond the
status code. The details (the engine's version, why a check failed) need a session.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from nicegui import Client

from app.api.roles import require
from services.store.models import Role
from services.views.system_status import SystemStatus


def register(api: FastAPI, status: SystemStatus) -> None:
    @api.get("/healthz", tags=["health"], summary="Process health (public: ok or not)")
    async def healthz() -> JSONResponse:
        """200 while the database answers (Docker trouble only degrades), else 503."""
        return await _answer(status, detailed=False)

    @api.get(
        "/api/health",
        tags=["health"],
        summary="Process health with details",
        dependencies=require(Role.VIEWER),
    )
    async def health_details() -> JSONResponse:
        """As /healthz, with each check's detail (the engine's version, or why it failed)."""
        return await _answer(status, detailed=True)


async def _answer(status: SystemStatus, *, detailed: bool) -> JSONResponse:
    await status.refresh()
    database, docker = status.database, status.docker
    overall = "ok" if database.ok and docker.ok else "degraded"
    body: dict[str, Any] = {
        "status": overall if database.ok else "failing",
        "database": {"ok": database.ok},
        "docker": {"ok": docker.ok},
    }
    if detailed:
        body["database"]["detail"] = database.detail
        body["docker"]["detail"] = docker.detail
        # What a slow leak would show first (bench/soak.py watches them).
        body["process"] = {"tasks": len(asyncio.all_tasks()), "page_clients": len(Client.instances)}
    return JSONResponse(body, status_code=200 if database.ok else 503)
