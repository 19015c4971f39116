"""Security headers on every HTTP answer: pages, API, static files, redirects and errors.

- No framing at all (`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`): a preview on the
  same site cannot overlay the dashboard and trick a click (clickjacking).
- `X-Content-Type-Options: nosniff`: a JSON or text answer is never run as a script or page.
- `Referrer-Policy: same-origin`: URLs (some carry ids) never leave in a Referer. The stricter
  `no-referrer` is not usable: browsers then send `Origin: null` on our own form posts (the
  Sign out form), which the origin check must refuse.
- `Cross-Origin-Resource-Policy: same-origin`: another site's page cannot even embed our
  answers (an <img> or <script> pointing at the API).
- A Content-Security-Policy as strict as NiceGUI allows, see CONTENT_SECURITY_POLICY.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response
from services.errors import FieldError

# The strictest policy NiceGUI runs under, found by tightening one source at a time with the
# browser tests (which fail on any CSP violation): NiceGUI renders each page as inline
# <script> blocks carrying that page's own data, and Vue compiles the components' templates in
# the browser (`new Function`), as do `run_javascript` calls, so scripts need 'unsafe-inline'
# and 'unsafe-eval' (without either the pages stay blank); Quasar and Tailwind's browser build
# inject <style> elements and style attributes, so styles need 'unsafe-inline'. The trade-off:
# an injected inline script would still run (keeping data out of markup is what prevents that).
# What the policy still enforces: scripts, styles, fonts, images and connections only from this
# origin (nothing to load from, or send data to, another host), no plugins, no <base>
# rewriting, forms posting only here, and no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
INTERNAL_ERROR = "internal error (see the server log)"


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response start (keeping any a route set itself).

    An exception nobody handled would otherwise be answered outside every middleware, without
    these headers: here it is answered as a 500 in the shared error shape, then re-raised so
    the server still logs it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self._app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                answer = error_response(500, [FieldError("", INTERNAL_ERROR)])
                await answer(scope, receive, send_with_headers)
            raise
