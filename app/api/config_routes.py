"""GET /api/config/export: the current configuration as a seed YAML download."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Query
from fastapi.responses import Response

from app.api.errors import error_responses
from app.api.roles import require
from services.admin.config_transfer import ConfigTransfer
from services.store.models import Role

_YAML: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the configuration in the seed format",
        "content": {"application/x-yaml": {"schema": {"type": "string"}}},
    }
}


def register(api: FastAPI, transfer: ConfigTransfer) -> None:
    @api.get(
        "/api/config/export",
        tags=["config"],
        summary="Export configuration as YAML",
        response_class=Response,
        responses={**_YAML, **error_responses(422)},
        dependencies=require(Role.ADMIN),
    )
    async def export_config(
        secrets: Literal["omit", "encrypted"] = Query(
            "omit", description="leave secrets out, or include them as ciphertext"
        ),
    ) -> Response:
        """Secrets are left out unless asked for, then only as this installation's ciphertext."""
        text = await transfer.export_yaml(include_secrets=secrets == "encrypted")
        headers = {"Content-Disposition": 'attachment; filename="docker-watcher-config.yaml"'}
        return Response(text, media_type="application/x-yaml", headers=headers)
