""" "Test connection" for NPM and for a registry tells apart why it failed, each with what to do.

Every case meets a real listener on 127.0.0.1: a port with nothing, NPM's own nginx (the proxy
port, answering HTML), another service's JSON, the NPM emulator refusing a password or asking
a two-factor user for a code, a real registry refusing a password, and a TLS server with a
self-signed certificate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from services.errors import CannotConnect, InvalidAuth, Timeout, TlsProblem, WrongService
from services.npm.client import NpmClient
from services.npm.session import TWO_FACTOR_MESSAGE
from services.registry.auth import RegistryCredentials
from services.registry.client import RegistryClient
from tests.support.npm_emulator import EchoUpstream, NpmEmulator, free_port
from tests.support.registry_server import RegistryServer
from tests.support.tls_listener import SelfSignedTlsServer

pytest_plugins = ["tests.support.npm_fixtures"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def npm_test(http: httpx.AsyncClient, url: str, email: str, password: str) -> str:
    return await NpmClient(url, email, password, http=http).test_connection()


async def registry_test(
    http: httpx.AsyncClient, url: str, username: str = "alice", token: str | None = None
) -> str:
    credentials = RegistryCredentials(username, token or "any-token")
    return await RegistryClient(url, credentials=credentials, http=http).test_connection()


def only(caught: pytest.ExceptionInfo[Exception], kind: type[Exception]) -> str:
    """The message, after checking the error is exactly of `kind` (not a subclass of it)."""
    assert type(caught.value) is kind, (type(caught.value), str(caught.value))
    return str(caught.value)


# --------------------------------------------------------------------------- NPM


async def test_npm_nothing_answers(http: httpx.AsyncClient) -> None:
    with pytest.raises(CannotConnect) as caught:
        await npm_test(http, f"http://127.0.0.1:{free_port()}", "a@b.c", "pw")
    message = only(caught, CannotConnect)
    assert "nothing answers" in message and "Check the port" in message


async def test_npm_unknown_host_name(http: httpx.AsyncClient) -> None:
    with pytest.raises((CannotConnect, Timeout)) as caught:
        await npm_test(http, "http://no-such-npm.invalid:81", "a@b.c", "pw")
    assert "does not resolve" in str(caught.value) or isinstance(caught.value, Timeout)
    assert not isinstance(caught.value, WrongService | TlsProblem)


async def test_npm_proxy_port_answering_html_is_the_wrong_port(
    http: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    proxy_port = f"http://127.0.0.1:{npm_emulator.nginx_port}"  # NPM's nginx, not its API
    with pytest.raises(WrongService) as caught:
        await npm_test(http, proxy_port, npm_emulator.email, npm_emulator.password)
    message = only(caught, WrongService)
    assert "a web page" in message and "wrong port or path" in message and "81" in message
    assert npm_emulator.logins == 0


async def test_another_services_json_is_not_npm(
    http: httpx.AsyncClient, echo_upstream: Callable[[str], EchoUpstream]
) -> None:
    other = echo_upstream("someone-else")
    with pytest.raises(WrongService) as caught:
        await npm_test(http, f"http://127.0.0.1:{other.port}", "a@b.c", "pw")
    assert "not Nginx Proxy Manager's API" in only(caught, WrongService)


async def test_npm_wrong_password_is_refused_credentials(
    http: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    with pytest.raises(InvalidAuth) as caught:
        await npm_test(http, npm_emulator.url, npm_emulator.email, "not-the-password")
    message = only(caught, InvalidAuth)
    assert "Invalid email or password" in message and "Check the e-mail and password" in message
    assert "not-the-password" not in message


async def test_npm_two_factor_user(http: httpx.AsyncClient, npm_emulator: NpmEmulator) -> None:
    npm_emulator.two_factor = True
    with pytest.raises(InvalidAuth) as caught:
        await npm_test(http, npm_emulator.url, npm_emulator.email, npm_emulator.password)
    assert only(caught, InvalidAuth) == TWO_FACTOR_MESSAGE


async def test_npm_self_signed_certificate_is_a_tls_problem(http: httpx.AsyncClient) -> None:
    with SelfSignedTlsServer() as server, pytest.raises(TlsProblem) as caught:
        await npm_test(http, server.url, "a@b.c", "pw")
    message = only(caught, TlsProblem)
    assert "TLS problem" in message and "not trusted" in message


async def test_npm_https_to_a_plain_http_port_is_a_tls_problem(
    http: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    https_url = npm_emulator.url.replace("http://", "https://")
    with pytest.raises(TlsProblem) as caught:
        await npm_test(http, https_url, npm_emulator.email, npm_emulator.password)
    assert "does not speak TLS" in only(caught, TlsProblem)


# --------------------------------------------------------------------------- registries


async def test_registry_nothing_answers(http: httpx.AsyncClient) -> None:
    with pytest.raises(CannotConnect) as caught:
        await registry_test(http, f"http://127.0.0.1:{free_port()}")
    assert "nothing answers" in only(caught, CannotConnect)


async def test_a_web_server_is_not_a_registry(
    http: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    with pytest.raises(WrongService) as caught:
        await registry_test(http, f"http://127.0.0.1:{npm_emulator.nginx_port}")
    message = only(caught, WrongService)
    assert "does not answer as a registry" in message and "Check the address" in message


async def test_registry_wrong_password_is_refused_credentials(
    http: httpx.AsyncClient, registry: RegistryServer
) -> None:
    with pytest.raises(InvalidAuth) as caught:
        await registry_test(http, registry.url, registry.username, "not-the-password")
    message = only(caught, InvalidAuth)
    assert "rejected" in message and "check the username and the password" in message
    assert "not-the-password" not in message


async def test_registry_self_signed_certificate_is_a_tls_problem(
    http: httpx.AsyncClient,
) -> None:
    with SelfSignedTlsServer() as server, pytest.raises(TlsProblem) as caught:
        await registry_test(http, server.url)
    assert "not trusted" in only(caught, TlsProblem)
