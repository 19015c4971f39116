"""POST /api/config/import: re-import an (edited) export, all or nothing.

The YAML comes as the raw body (`application/x-yaml`, `application/yaml`, `text/yaml`, or
`application/json`: JSON is YAML) or as the `file` field of a form upload. Every problem is
listed by key path (`projects.web.port`) in the one error shape; nothing is written unless the
whole document is valid.

This route can rewrite the whole configuration, so it only accepts requests that another site's
page cannot send without a CORS preflight (which this app never grants): the "simple" body types
a page may post anywhere (`text/plain`, `multipart/form-data`, form encoding, or no type at all)
need a custom `X-Requested-With` header beside them, which no page can add cross-origin.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.webhook_routes import read_limited
from services.admin.config_transfer import MAX_IMPORT_BYTES, ConfigTransfer
from services.errors import ValidationFailed
from services.store.models import Role

_YAML = {"schema": {"type": "string", "description": "seed YAML (an export, edited)"}}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/x-yaml": _YAML,
        "application/yaml": _YAML,
        "text/yaml": _YAML,
        "application/json": {"schema": {"type": "object", "description": "the seed as JSON"}},
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
_CUSTOM_HEADER_PARAM = {
    "name": "X-Requested-With",
    "in": "header",
    "required": False,
    "description": "any value; required with a text/plain body or a multipart/form-data upload",
    "schema": {"type": "string"},
}
_TOO_LARGE = f"the file is larger than {MAX_IMPORT_BYTES} bytes"
RAW_TYPES = frozenset({"application/x-yaml", "application/yaml", "text/yaml", "application/json"})
FORM = "multipart/form-data"
SIMPLE_TYPES = frozenset({"text/plain", FORM})  # accepted only with X-Requested-With
CUSTOM_HEADER = "x-requested-with"
_UNSUPPORTED = (
    "send the YAML as application/x-yaml (or application/json); a text/plain body or a "
    "multipart/form-data upload also needs the header X-Requested-With"
)


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


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _preflighted(request: Request) -> bool:
    """True when a browser would have asked (CORS preflight) before sending this request."""
    media_type = _media_type(request)
    if media_type in RAW_TYPES:
        return True
    return media_type in SIMPLE_TYPES and bool(request.headers.get(CUSTOM_HEADER, "").strip())


async def _body(request: Request) -> bytes:
    if _media_type(request) == FORM:
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
        responses=error_responses(415, 422),
        openapi_extra={"requestBody": _REQUEST_BODY, "parameters": [_CUSTOM_HEADER_PARAM]},
        dependencies=require(Role.ADMIN),
    )
    async def import_config(request: Request, actor: RequestActor) -> ImportOut:
        """Updates or creates what the file names; secrets left out keep their stored value."""
        if not _preflighted(request):
            raise HTTPException(415, _UNSUPPORTED)
        summary = await transfer.import_yaml(await _body(request), actor=actor)
        return ImportOut(
            registries=list(summary.registries),
            projects=list(summary.projects),
            settings=list(summary.settings),
        )

    api.include_router(router)
