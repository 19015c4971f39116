"""Who acts on a page: the signed-in user of the page's request and its client address.

Called inside a page's event handlers; services get the result as an argument and record it
in the audit log.
"""

from __future__ import annotations

from nicegui import ui

from services.audit.log import Actor
from services.auth.sessions import principal_in


def page_actor() -> Actor:
    request = ui.context.client.request
    principal = principal_in(request.state)
    address = request.client.host if request.client else ""
    return Actor.user(principal.username if principal else "anonymous", address)
