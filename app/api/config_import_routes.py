"""POST /api/config/import: re-import an (edited) export, all or nothing.

The YAML comes as the raw body (`application/x-yaml`, `text/yaml`, `text/plain`) or as the
`file` field of a form upload. Every problem is listed by key path (`projects.web.port`) in the
one error shape; nothing is written unless the whole document is valid.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from app.api.errors import error_responses
from app.api.webhook_routes import read_limited
from services.admin.config_transfer import MAX_IMPORT_BYTES, ConfigTransfer
from services.errors import ValidationFailed

_YAML = {"schema": {"type": "string", "description": "seed YAML (an export, edited)"}}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/x-yaml": _YAML,
        "text/yaml": _YAML,
        "text/plain": _YAML,
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}
_TOO_LARGE = f"the file is larger than {MAX_IMPORT_BYTES} bytes"


class ImportOut(BaseModel):
    """What the import touched; projects and registries not in the file were kept."""

    registries: list[str]
    projects: list[str]
    settings: list[str]


async def _upload(request: Request) -> bytes:
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_IMPORT_BYTES)
    except HTTPException as exc:  # Starlette's answer to a malformed form
        raise ValidationFailed.single("file", f"unreadable form upload: {exc.detail}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed.single("file", "attach the YAML file as the form field 'file'")
        data = await upload.read(MAX_IMPORT_BYTES + 1)
    finally:
        await form.close()
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed.single("file", _TOO_LARGE)
    return data


async def _body(request: Request) -> bytes:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _upload(request)
    data = await read_limited(request, MAX_IMPORT_BYTES)
    if data is None:
        raise ValidationFailed.single("", _TOO_LARGE)
    return data


def register(api: FastAPI, transfer: ConfigTransfer) -> None:
    router = APIRouter(tags=["config"])

    @router.post(
        "/api/config/import",
        summary="Re-import configuration YAML",
        responses=error_responses(422),
        openapi_extra={"requestBody": _REQUEST_BODY},
    )
    async def import_config(request: Request) -> ImportOut:
        """Updates or creates what the file names; secrets left out keep their stored value."""
        summary = await transfer.import_yaml(await _body(request))
        return ImportOut(
            registries=list(summary.registries),
            projects=list(summary.projects),
            settings=list(summary.settings),
        )

    api.include_router(router)
