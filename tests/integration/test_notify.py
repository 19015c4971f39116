"""Notifications over real HTTP on 127.0.0.1: delivery, hanging, failing and absent servers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.errors import ValidationFailed
from services.notify.notifier import (
    ChannelResult,
    Notification,
    Notifier,
    WebhookChannel,
    channels_from_urls,
)
from services.urls import redact_url, validate_url
from tests.support.receiver import FakeReceiver

SECRET = "s3cr3t-token-value"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="services.notify.notifier")
    return caplog


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook?token={SECRET}"


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def failure_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any("failed" in record.getMessage() for record in caplog.records)


def assert_no_secret_and_no_errors(caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def deploy_failed() -> Notification:
    return Notification(
        kind="deploy_failed",
        project="web",
        stage="dev",
        tag="dev-3",
        step="health_check",
        error="no answer on /api/health",
        deploy_id=7,
        at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


# --- delivery -------------------------------------------------------------------------------------


async def test_webhook_receives_the_json(
    receiver: FakeReceiver, client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier([WebhookChannel(receiver.url + f"?token={SECRET}", client)])
    notifier.notify(deploy_failed())
    await wait_until(lambda: bool(receiver.bodies) and notifier.pending == 0)
    assert receiver.bodies == [
        {
            "event": "deploy_failed",
            "project": "web",
            "stage": "dev",
            "tag": "dev-3",
            "url": None,
            "step": "health_check",
            "error": "no answer on /api/health",
            "deploy_id": 7,
            "at": "2025-01-02T03:04:05+00:00",
            "text": "Deploy failed: web/dev dev-3 at health_check: no answer on /api/health",
        }
    ]
    assert receiver.paths == [f"/hook?token={SECRET}"]
    await notifier.aclose()
    assert not caplog_warnings.records


async def test_every_channel_gets_it(client: httpx.AsyncClient) -> None:
    with FakeReceiver() as one, FakeReceiver() as two:
        notifier = Notifier(channels_from_urls([one.url, "  ", two.url], client))
        assert len(notifier.channels) == 2
        notifier.notify(Notification(kind="deploy_succeeded", project="web", url="https://x"))
        await wait_until(lambda: bool(one.bodies) and bool(two.bodies))
        await notifier.aclose()
    assert one.bodies[0]["event"] == two.bodies[0]["event"] == "deploy_succeeded"


async def test_aclose_waits_for_a_slow_send(client: httpx.AsyncClient) -> None:
    with FakeReceiver("slow") as slow:
        notifier = Notifier([WebhookChannel(slow.url, client)])
        notifier.notify(deploy_failed())
        await notifier.aclose(grace=5)
        assert notifier.pending == 0
        assert len(slow.bodies) == 1


# --- faults never raise --------------------------------------------------------------------------


async def test_hanging_server_times_out_and_notify_returns_at_once(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    with FakeReceiver("hang") as hang:
        notifier = Notifier([WebhookChannel(f"{hang.url}?token={SECRET}", client, timeout=0.3)])
        notifier.notify(deploy_failed())
        assert notifier.pending == 1 and not hang.bodies  # returned before the send even began
        await wait_until(lambda: failure_logged(caplog_warnings))
        await notifier.aclose()
    assert "did not answer within 0.3 s" in caplog_warnings.text
    assert "webhook http://127.0.0.1:" in caplog_warnings.text
    assert_no_secret_and_no_errors(caplog_warnings)


async def test_notifier_timeout_bounds_a_channel_without_its_own(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    with FakeReceiver("hang") as hang:
        notifier = Notifier([WebhookChannel(hang.url, client, timeout=30)], timeout=0.3)
        notifier.notify(deploy_failed())
        await wait_until(lambda: failure_logged(caplog_warnings))
        await notifier.aclose()
    assert "no answer within 0.3 s" in caplog_warnings.text


async def test_server_error_is_logged(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    with FakeReceiver("error") as failing:
        notifier = Notifier([WebhookChannel(f"{failing.url}?token={SECRET}", client)])
        notifier.notify(deploy_failed())
        await wait_until(lambda: failure_logged(caplog_warnings))
        await notifier.aclose()
    assert "answered HTTP 500" in caplog_warnings.text
    assert_no_secret_and_no_errors(caplog_warnings)


async def test_connection_refused_is_logged(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier([WebhookChannel(refused_url(), client)])
    notifier.notify(deploy_failed())
    await wait_until(lambda: failure_logged(caplog_warnings))
    await notifier.aclose()
    assert "cannot reach webhook http://127.0.0.1:" in caplog_warnings.text
    assert_no_secret_and_no_errors(caplog_warnings)


async def test_failure_log_carries_deploy_context(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, Any]] = []

    class ContextSpy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from services import log_context

            seen.append(log_context.current())

    spy = ContextSpy()
    logging.getLogger("services.notify.notifier").addHandler(spy)
    try:
        notifier = Notifier([WebhookChannel(refused_url(), client)])
        notifier.notify(deploy_failed())
        await wait_until(lambda: bool(seen))
        await notifier.aclose()
    finally:
        logging.getLogger("services.notify.notifier").removeHandler(spy)
    assert seen[0] == {"project": "web", "stage": "dev", "tag": "dev-3", "deploy_id": 7}


async def test_aclose_cancels_sends_past_the_grace(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    with FakeReceiver("hang") as hang:
        notifier = Notifier([WebhookChannel(hang.url, client, timeout=30)], timeout=30)
        notifier.notify(deploy_failed())
        await asyncio.to_thread(hang.arrived.wait, 5)
        started = time.perf_counter()
        await notifier.aclose(grace=0.2)
        assert time.perf_counter() - started < 2
        assert notifier.pending == 0
    assert "dropped 1 notification(s)" in caplog_warnings.text


async def test_notify_after_close_is_dropped(
    receiver: FakeReceiver, client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier([WebhookChannel(receiver.url, client)])
    await notifier.aclose()
    notifier.notify(deploy_failed())
    assert notifier.pending == 0
    assert "notifier is closed" in caplog_warnings.text


def test_notify_without_a_running_loop_is_dropped(
    caplog_warnings: pytest.LogCaptureFixture,
) -> None:
    client = httpx.AsyncClient(trust_env=False)
    notifier = Notifier([WebhookChannel("http://127.0.0.1:9/hook", client)])
    notifier.notify(deploy_failed())
    asyncio.run(client.aclose())
    assert "no running event loop" in caplog_warnings.text


async def test_too_many_pending_sends_are_dropped(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    with FakeReceiver("hang") as hang:
        notifier = Notifier([WebhookChannel(hang.url, client, timeout=30)], max_pending=2)
        for _ in range(3):
            notifier.notify(deploy_failed())
        assert notifier.pending == 2
        assert "too many notifications" in caplog_warnings.text
        await notifier.aclose(grace=0.1)


async def test_a_crashing_channel_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        name = "broken"

        async def send(self, n: Notification) -> None:
            raise RuntimeError("bug")

    notifier = Notifier([Broken()])
    notifier.notify(deploy_failed())
    await wait_until(lambda: notifier.pending == 0)
    assert "notification channel broken crashed" in caplog.text
    assert "unexpected RuntimeError" in caplog.text


# --- send test -----------------------------------------------------------------------------------


async def test_send_test_reports_per_channel(client: httpx.AsyncClient) -> None:
    with FakeReceiver() as good, FakeReceiver("error") as bad:
        notifier = Notifier(
            [
                WebhookChannel(good.url, client),
                WebhookChannel(f"{bad.url}?token={SECRET}", client),
                WebhookChannel(refused_url(), client),
            ]
        )
        results = await notifier.send_test()
    assert [r.ok for r in results] == [True, False, False]
    assert results[0] == ChannelResult(f"webhook {redact_url(good.url)}", True)
    assert "HTTP 500" in (results[1].error or "")
    assert "cannot reach" in (results[2].error or "")
    assert SECRET not in repr(results)
    assert good.bodies[0]["event"] == "test"
    assert good.bodies[0]["text"] == "Test notification from Docker Watcher"


async def test_send_test_without_channels() -> None:
    assert await Notifier().send_test() == []


async def test_replace_channels(receiver: FakeReceiver, client: httpx.AsyncClient) -> None:
    notifier = Notifier()
    notifier.replace_channels([WebhookChannel(receiver.url, client)])
    assert [r.ok for r in await notifier.send_test()] == [True]


# --- values and URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/…"),
        (f"http://user:{SECRET}@notify.local:8080/", "http://notify.local:8080"),
        (f"https://n.example.com?token={SECRET}", "https://n.example.com/…"),
        ("https://n.example.com", "https://n.example.com"),
        ("http://[::1]:9000/x", "http://[::1]:9000/…"),
        ("http://[::1", "<invalid url>"),
        ("notify.example.com/hook", "<invalid url>"),
        ("http://", "<invalid url>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url", ["", "ftp://x/y", "notify.example.com/hook", "http://", "http://h:x"]
)
async def test_webhook_channel_refuses_bad_urls(url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(ValidationFailed) as caught:
        WebhookChannel(url, client)
    assert caught.value.errors[0].path == "notification_url"


def test_validate_url_names_the_callers_field() -> None:
    assert validate_url("https://n.example.com/x") == "https://n.example.com/x"
    with pytest.raises(ValidationFailed) as caught:
        validate_url(f"ftp://n.example.com/{SECRET}", field="global.notification_url")
    assert caught.value.errors[0].path == "global.notification_url"
    assert SECRET not in str(caught.value)


async def test_channels_from_urls_skips_invalid_urls(
    client: httpx.AsyncClient, caplog_warnings: pytest.LogCaptureFixture
) -> None:
    urls = ["https://ok.example.com/hook", "", f"ftp://bad.example.com/{SECRET}", "  "]
    channels = channels_from_urls(urls, client)
    assert [c.name for c in channels] == ["webhook https://ok.example.com/…"]
    assert "skipping notification URL" in caplog_warnings.text
    assert SECRET not in caplog_warnings.text


async def test_channel_name_hides_the_secret(client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(f"https://n.example.com/hook/{SECRET}?t={SECRET}", client)
    assert SECRET not in channel.name


def test_notification_text() -> None:
    ok = Notification(
        kind="deploy_succeeded", project="web", stage="rel", tag="v1", url="https://u"
    )
    assert ok.text == "Deployed: web/rel v1 (https://u)"
    waiting = Notification(kind="tag_waiting", project="web", stage="prod", tag="v2")
    assert waiting.text == "New tag waiting for deploy: web/prod v2"
    assert Notification(kind="test").at.tzinfo is UTC
