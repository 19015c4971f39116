"""Who acts in an API request: the signed-in user and the client address, for the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth_guard import current_principal
from services.audit.log import Actor


def request_actor(request: Request) -> Actor:
    """The principal the guard let through, with the request's client address (already the
    forwarded one when the proxy is trusted)."""
    principal = current_principal(request)
    address = request.client.host if request.client else ""
    return Actor.user(principal.username if principal else "anonymous", address)


RequestActor = Annotated[Actor, Depends(request_actor)]
