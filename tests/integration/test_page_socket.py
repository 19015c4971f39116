"""The page socket (`/_nicegui_ws/`) against the real process, driven by hand.

Each test replays what anyone holding a page's HTML could send: the client id and the
listener ids it carries, over a socket.io connection with or without a session cookie.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_app_process import ADMIN_PASSWORD, running_app, signed_in
from tests.support.page_socket import PageSocket, read_page, regenerate_webhook


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One running app for the module (each test signs in its own sessions)."""
    data = tmp_path_factory.mktemp("page-socket") / "data"
    with running_app(data, ADMIN_PASSWORD=ADMIN_PASSWORD) as (base, _):
        yield base


def webhook_path(url: str) -> str:
    """The current webhook URL, read back through the API with a fresh sign-in."""
    with signed_in(url) as client:
        answer = client.get("/api/settings/webhook-url")
        assert answer.status_code == 200, answer.text
        path = str(answer.json()["path"])
        client.post("/api/auth/logout")
    return path


async def test_a_signed_out_pages_ids_cannot_regenerate_the_webhook_secret(
    url: str,
) -> None:
    before = webhook_path(url)
    with signed_in(url) as victim:
        page = read_page(victim.get("/settings").text)
        assert victim.post("/api/auth/logout").status_code == 200
        assert victim.get("/api/settings/webhook-url").status_code == 401

    replay = PageSocket(url, page)  # no cookie at all
    try:
        accepted = await replay.connect()
        pushed = await regenerate_webhook(replay) if accepted else None
    finally:
        await replay.close()
    after = webhook_path(url)
    assert not accepted
    assert pushed is None
    assert after == before


async def test_only_the_session_that_rendered_a_page_drives_it(url: str) -> None:
    before = webhook_path(url)
    with signed_in(url) as owner, signed_in(url) as other:
        page = read_page(owner.get("/settings").text)
        stranger = PageSocket(url, page, other.cookies["dw_session"])
        own = PageSocket(url, page, owner.cookies["dw_session"])
        try:
            stranger_accepted = await stranger.connect()
            stranger_pushed = await regenerate_webhook(stranger) if stranger_accepted else None
            after_stranger = webhook_path(url)
            own_accepted = await own.connect()
            own_pushed = await regenerate_webhook(own)
        finally:
            await stranger.close()
            await own.close()
    after_own = webhook_path(url)
    assert not stranger_accepted and stranger_pushed is None
    assert after_stranger == before
    assert own_accepted
    assert own_pushed is not None and own_pushed.endswith(after_own)
    assert after_own != before


async def test_a_public_pages_socket_cannot_send_events_to_another_page(url: str) -> None:
    before = webhook_path(url)
    with signed_in(url) as owner:
        settings = read_page(owner.get("/settings").text)
        own = PageSocket(url, settings, owner.cookies["dw_session"])
        login = PageSocket(url, read_page(httpx.get(f"{url}/login").text))  # no cookie
        try:
            assert await own.connect()  # the settings page is open in its browser
            assert await login.connect()  # the login page needs no session
            await login.click(settings.click_target("Regenerate"), settings.client_id)
            refused = await login.until(login.closed.is_set)
            own_open = not own.closed.is_set()
        finally:
            await own.close()
            await login.close()
    after = webhook_path(url)
    assert refused
    assert own_open
    assert after == before


async def test_signing_out_closes_the_open_pages_socket(url: str) -> None:
    with signed_in(url) as owner, signed_in(url) as other:
        cookie, other_cookie = owner.cookies["dw_session"], other.cookies["dw_session"]
        page, other_page = (read_page(c.get("/settings").text) for c in (owner, other))
        open_page = PageSocket(url, page, cookie)
        other_open = PageSocket(url, other_page, other_cookie)
        try:
            assert await open_page.connect() and await other_open.connect()
            assert owner.post("/api/auth/logout").status_code == 200
            closed = await open_page.until(open_page.closed.is_set)
            other_kept = not other_open.closed.is_set()
            again = PageSocket(url, page, cookie)
            reconnected = await again.connect()
            await again.close()
        finally:
            await open_page.close()
            await other_open.close()
    assert closed
    assert open_page.opened == ["/login"]  # the browser is sent to the login page
    assert other_kept  # another session of the same user stays
    assert not reconnected


async def test_a_password_change_closes_the_users_other_pages(url: str) -> None:
    new = "a much better secret"
    with signed_in(url) as changer, signed_in(url) as other:
        page = read_page(other.get("/settings").text)
        other_page = PageSocket(url, page, other.cookies["dw_session"])
        try:
            assert await other_page.connect()
            change = {"current_password": ADMIN_PASSWORD, "new_password": new}
            assert changer.post("/api/auth/password", json=change).status_code == 200
            # The event closes it at once. Under load a socket may still be attaching when the
            # event comes: the handshake guard then ends it, and the 30 s sweep is the backstop.
            closed = await other_page.until(other_page.closed.is_set, timeout=40)
        finally:
            await other_page.close()
            back = {"current_password": new, "new_password": ADMIN_PASSWORD}
            assert changer.post("/api/auth/password", json=back).status_code == 200
    assert closed
    assert other_page.opened == ["/login"]


async def test_a_role_change_closes_that_users_open_pages_at_once(url: str) -> None:
    password = "carol-secret-1"
    with signed_in(url) as admin, httpx.Client(base_url=url, headers={"Origin": url}) as carol:
        added = admin.post(
            "/api/users", json={"username": "carol", "password": password, "role": "deployer"}
        )
        assert added.status_code == 201, added.text
        login = {"username": "carol", "password": password}
        assert carol.post("/api/auth/login", json=login).status_code == 200
        page = read_page(carol.get("/").text)
        open_page = PageSocket(url, page, carol.cookies["dw_session"])
        try:
            assert await open_page.connect()
            patch = admin.patch(f"/api/users/{added.json()['id']}", json={"role": "viewer"})
            assert patch.status_code == 200, patch.text
            closed = await open_page.until(open_page.closed.is_set, timeout=40)
        finally:
            await open_page.close()
        assert carol.get("/api/projects").status_code == 401
        assert admin.delete(f"/api/users/{added.json()['id']}").status_code == 204
    assert closed
    assert open_page.opened == ["/login"]
