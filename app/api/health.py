"""GET /healthz: is the process able to work (database) and can it reach Docker."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.views.system_status import SystemStatus


def register(api: FastAPI, status: SystemStatus) -> None:
    @api.get("/healthz", tags=["health"], summary="Process health")
    async def healthz() -> JSONResponse:
        """200 while the database answers (Docker trouble only degrades), else 503."""
        await status.refresh()
        body: dict[str, Any] = {
            "status": "ok" if status.database.ok and status.docker.ok else "degraded",
            "database": {"ok": status.database.ok, "detail": status.database.detail},
            "docker": {"ok": status.docker.ok, "detail": status.docker.detail},
        }
        if not status.database.ok:
            body["status"] = "failing"
        return JSONResponse(body, status_code=200 if status.database.ok else 503)
