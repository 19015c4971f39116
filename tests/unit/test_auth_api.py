"""The auth routes and the request guard over HTTP (httpx.ASGITransport, no server, no NiceGUI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from app.api import auth_routes
from app.auth_guard import SESSION_COOKIE, AuthGuard, current_principal
from services.auth.sessions import AuthService
from tests.support.auth_fakes import ADMIN_PASSWORD, FakeClock, FixedModes, make_auth

LOGIN = {"username": "admin", "password": ADMIN_PASSWORD}


def build_api(auth: AuthService) -> FastAPI:
    """Our routes and guard plus stand-ins for a protected API route, a page and public routes."""
    api = FastAPI()
    api.add_middleware(AuthGuard, auth=auth)
    auth_routes.register(api, auth, FixedModes())

    @api.get("/api/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        principal = current_principal(request)
        return {"username": principal.username if principal else None}

    @api.get("/projects")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>projects</p>")

    @api.get("/login")
    async def login_page() -> HTMLResponse:
        return HTMLResponse("<p>sign in</p>")

    @api.get("/healthz")
    @api.post("/api/webhook/{secret}")
    @api.get("/api/auth/oidc/login")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    return api


@pytest.fixture
def service() -> tuple[AuthService, FakeClock]:
    auth, _, clock, _ = make_auth()
    return auth, clock


@pytest.fixture
async def client(service: tuple[AuthService, FakeClock]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(build_api(service[0]), client=("192.0.2.10", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as http:
        yield http


async def test_login_answers_the_token_and_sets_a_strict_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json=LOGIN)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"} and body["expires_at"].startswith("2025-01-02")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={body['token']};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie


async def test_cookie_is_secure_over_https(service: tuple[AuthService, FakeClock]) -> None:
    transport = httpx.ASGITransport(build_api(service[0]))
    async with httpx.AsyncClient(transport=transport, base_url="https://dw.test") as http:
        response = await http.post("/api/auth/login", json=LOGIN)
    assert "Secure" in response.headers["set-cookie"]


async def test_over_https_the_cookie_has_the_host_prefix_and_no_other_name_counts(
    service: tuple[AuthService, FakeClock],
) -> None:
    """`__Host-`: Secure, Path=/, no Domain, so another subdomain cannot plant one for us."""
    transport = httpx.ASGITransport(build_api(service[0]))
    async with httpx.AsyncClient(transport=transport, base_url="https://dw.test") as http:
        response = await http.post("/api/auth/login", json=LOGIN)
        token = response.json()["token"]
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"__Host-dw_session={token};")
        assert "Secure" in cookie and "Path=/" in cookie and "domain" not in cookie.lower()
        assert (await http.get("/api/whoami")).json() == {"username": "admin"}
        http.cookies.clear()
        tossed = await http.get("/api/whoami", headers={"Cookie": f"dw_session={token}"})
        assert tossed.status_code == 401
        signed_out = await http.post(
            "/api/auth/logout", headers={"Cookie": f"__Host-dw_session={token}"}
        )
        assert signed_out.headers["set-cookie"].startswith('__Host-dw_session=""; ')


async def test_bearer_token_and_cookie_both_open_protected_routes(
    client: httpx.AsyncClient,
) -> None:
    token = (await client.post("/api/auth/login", json=LOGIN)).json()["token"]
    assert (await client.get("/api/whoami")).json() == {"username": "admin"}  # the cookie
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/whoami", headers=bearer)).json() == {"username": "admin"}
    assert (await client.get("/projects", headers=bearer)).text == "<p>projects</p>"


@pytest.mark.parametrize(
    "body", [{"username": "admin", "password": "nope"}, {**LOGIN, "username": "x"}]
)
async def test_failed_login_is_401_with_one_message(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"field": None, "message": "invalid username or password"}]
    }
    assert "set-cookie" not in response.headers


async def test_bad_body_names_the_field_and_never_echoes_the_password(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/auth/login", json={"password": "hunter2-secret"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["username"]
    assert "hunter2-secret" not in response.text
    response = await client.post("/api/auth/login", json={"username": "admin", "password": ""})
    assert response.json()["errors"][0]["field"] == "password"


async def test_repeated_failures_answer_429_with_retry_after(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await client.post("/api/auth/login", json={"username": "admin", "password": "guess"})
    response = await client.post("/api/auth/login", json=LOGIN)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "too many failed sign-ins" in response.json()["errors"][0]["message"]


async def test_an_attacker_failing_for_admin_does_not_stop_the_admin_elsewhere(
    client: httpx.AsyncClient, service: tuple[AuthService, FakeClock]
) -> None:
    transport = httpx.ASGITransport(build_api(service[0]), client=("203.0.113.66", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as attacker:
        answers = [
            await attacker.post("/api/auth/login", json={"username": name, "password": "guess"})
            for name in ["admin"] * 10 + [f"user{n}" for n in range(30)]
        ]
        still_refused = await attacker.post("/api/auth/login", json=LOGIN)
    admin = await client.post("/api/auth/login", json=LOGIN)

    assert {a.status_code for a in answers} == {401, 429}
    assert still_refused.status_code == 429  # the guessing address stays throttled
    assert admin.status_code == 200, admin.text


async def test_without_a_session_api_is_401_and_pages_redirect_to_login(
    client: httpx.AsyncClient,
) -> None:
    api = await client.get("/api/whoami")
    assert api.status_code == 401
    assert api.json() == {"errors": [{"field": None, "message": "not signed in"}]}
    assert api.headers["www-authenticate"] == "Bearer"
    page = await client.get("/projects?tab=log")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fprojects%3Ftab%3Dlog"
    posted = await client.post("/projects")
    assert posted.status_code == 401
    wrong = await client.get("/api/whoami", headers={"Authorization": "Bearer forged"})
    assert wrong.status_code == 401


async def test_public_paths_need_no_session(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.post("/api/webhook/any-secret")).status_code == 200
    assert (await client.get("/api/auth/oidc/login")).status_code == 200


async def test_expired_cookie_is_refused_and_cleared(
    client: httpx.AsyncClient, service: tuple[AuthService, FakeClock]
) -> None:
    await client.post("/api/auth/login", json=LOGIN)
    service[1].advance(12 * 3600)
    response = await client.get("/projects")
    assert response.status_code == 303
    assert response.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""; expires=')
    assert SESSION_COOKIE not in client.cookies


async def test_logout_ends_the_session_and_clears_the_cookie(client: httpx.AsyncClient) -> None:
    token = (await client.post("/api/auth/login", json=LOGIN)).json()["token"]
    response = await client.post("/api/auth/logout")
    assert response.status_code == 200 and response.json() == {"detail": "signed out"}
    assert SESSION_COOKIE not in client.cookies
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/whoami", headers=bearer)).status_code == 401


async def test_logout_form_from_a_browser_goes_to_the_login_page(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/api/auth/login", json=LOGIN)
    response = await client.post("/api/auth/logout", headers={"Accept": "text/html"})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/api/whoami")).status_code == 401


async def test_the_login_page_clears_a_cookie_whose_session_ended_and_keeps_a_live_one(
    client: httpx.AsyncClient,
) -> None:
    """A page sent to the login by its socket may have cut short the sign-out response."""
    token = (await client.post("/api/auth/login", json=LOGIN)).json()["token"]
    kept = await client.get("/login")
    assert kept.status_code == 200 and "set-cookie" not in kept.headers
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/api/auth/logout", headers=bearer)).status_code == 200
    client.cookies.set(
        SESSION_COOKIE, token, domain="dw.test"
    )  # as if the logout response never arrived
    cleared = await client.get("/login")
    assert cleared.status_code == 200 and cleared.text == "<p>sign in</p>"
    assert cleared.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""; ')
    assert SESSION_COOKIE not in client.cookies


async def test_login_page_ticket_sets_the_cookie_once(
    client: httpx.AsyncClient, service: tuple[AuthService, FakeClock]
) -> None:
    auth = service[0]
    ticket = auth.hand_off(await auth.login("admin", ADMIN_PASSWORD))
    url = f"/api/auth/session?ticket={ticket}&next=%2Fprojects"
    response = await client.get(url)
    assert response.status_code == 303 and response.headers["location"] == "/projects"
    assert (await client.get("/api/whoami")).json() == {"username": "admin"}
    client.cookies.clear()
    again = await client.get(url)
    assert again.headers["location"] == "/login?next=%2Fprojects"
    assert SESSION_COOKIE not in client.cookies


async def test_ticket_never_redirects_off_site(
    client: httpx.AsyncClient, service: tuple[AuthService, FakeClock]
) -> None:
    auth = service[0]
    ticket = auth.hand_off(await auth.login("admin", ADMIN_PASSWORD))
    response = await client.get(f"/api/auth/session?ticket={ticket}&next=//evil.example/")
    assert response.headers["location"] == "/"


async def test_websocket_without_a_session_is_closed(
    service: tuple[AuthService, FakeClock],
) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/api/live", "headers": [], "query_string": b""}
    await AuthGuard(inner, service[0])(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "not signed in"}]


async def test_password_change_answers_a_new_session_and_ends_the_old_one(
    client: httpx.AsyncClient, service: tuple[AuthService, FakeClock]
) -> None:
    old = (await client.post("/api/auth/login", json=LOGIN)).json()["token"]
    service[1].advance(1)
    change = {"current_password": ADMIN_PASSWORD, "new_password": "a much better secret"}

    response = await client.post("/api/auth/password", json=change)

    assert response.status_code == 200, response.text
    new = response.json()["token"]
    assert response.headers["set-cookie"].startswith(f"{SESSION_COOKIE}={new};")
    assert (await client.get("/api/whoami")).json() == {"username": "admin"}  # new cookie
    bearer_old = {"Authorization": f"Bearer {old}"}
    client.cookies.clear()
    assert (await client.get("/api/whoami", headers=bearer_old)).status_code == 401
    relogin = {"username": "admin", "password": "a much better secret"}
    assert (await client.post("/api/auth/login", json=relogin)).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"current_password": "not it", "new_password": "a much better secret"},
            "current_password",
        ),
        ({"current_password": ADMIN_PASSWORD, "new_password": "short"}, "new_password"),
    ],
)
async def test_password_change_names_the_wrong_field_and_keeps_the_password(
    client: httpx.AsyncClient, change: dict[str, str], field: str
) -> None:
    await client.post("/api/auth/login", json=LOGIN)
    response = await client.post("/api/auth/password", json=change)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert "not it" not in response.text and "short" not in response.text
    assert (await client.post("/api/auth/login", json=LOGIN)).status_code == 200


async def test_password_change_needs_a_session(client: httpx.AsyncClient) -> None:
    change = {"current_password": ADMIN_PASSWORD, "new_password": "a much better secret"}
    assert (await client.post("/api/auth/password", json=change)).status_code == 401
