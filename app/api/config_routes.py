"""GET /api/config/export: the current configuration as a seed YAML download."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import FastAPI, Query
from fastapi.responses import Response

from app.store.config_store import ConfigStore


def register(api: FastAPI, config: ConfigStore) -> None:
    @api.get("/api/config/export", tags=["config"], summary="Export configuration as YAML")
    async def export_config(
        secrets: Literal["omit", "encrypted"] = Query(
            "omit", description="leave secrets out, or include them as ciphertext"
        ),
    ) -> Response:
        text = await asyncio.to_thread(config.export_yaml, include_secrets=secrets)
        headers = {"Content-Disposition": 'attachment; filename="docker-watcher-config.yaml"'}
        return Response(text, media_type="application/x-yaml", headers=headers)
