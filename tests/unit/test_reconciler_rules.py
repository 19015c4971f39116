"""What the reconciler reads from a container's state, and its per-event error boundary."""

from __future__ import annotations

import logging

import pytest

from services.deploy.reconciler import guarded, loss_reason, status_of
from services.errors import NotFound, UpstreamError
from services.store.models import InstanceStatus
from services.types import ContainerInfo


def _container(status: str, policy: str, *, code: int = 1, restarts: int = 0, retries: int = 0):
    return ContainerInfo(
        id="c",
        name="n",
        image="i",
        image_id="sha256:i",
        status=status,
        exit_code=code,
        restart_count=restarts,
        restart_policy=policy,
        restart_retries=retries,
    )


@pytest.mark.parametrize(
    ("status", "policy", "code", "restarts", "retries", "for_good"),
    [
        ("exited", "unless-stopped", 137, 0, 0, False),  # stopped on purpose: may start again
        ("exited", "always", 0, 0, 0, False),
        ("exited", "no", 137, 0, 0, True),
        ("exited", "", 1, 0, 0, True),  # no policy at all
        ("exited", "on-failure", 0, 0, 0, True),  # a clean exit is not restarted
        ("exited", "on-failure", 1, 2, 5, False),  # retries left
        ("exited", "on-failure", 1, 5, 5, True),  # retries used up
        ("exited", "on-failure", 1, 9, 0, False),  # no retry limit
        ("dead", "unless-stopped", 1, 0, 0, True),
        ("running", "no", 0, 0, 0, False),
        ("restarting", "always", 1, 3, 0, False),
        ("created", "no", 0, 0, 0, False),
    ],
)
def test_gone_for_good_follows_the_restart_policy(
    status: str, policy: str, code: int, restarts: int, retries: int, for_good: bool
) -> None:
    container = _container(status, policy, code=code, restarts=restarts, retries=retries)
    assert container.gone_for_good is for_good
    lost = status_of(container) == InstanceStatus.FAILED
    assert lost is for_good


def test_a_missing_container_is_missing_and_says_why() -> None:
    assert status_of(None) == InstanceStatus.MISSING
    assert "removed outside" in loss_reason(None)
    assert "restart policy (no)" in loss_reason(_container("exited", "no", code=3))


async def test_the_boundary_keeps_every_error_inside(caplog: pytest.LogCaptureFixture) -> None:
    async def fails(exc: Exception) -> bool:
        raise exc

    async def works() -> bool:
        return True

    caplog.set_level(logging.DEBUG, logger="services.deploy.reconciler")
    assert await guarded("event die of web-1", works()) is True
    assert await guarded("event die of web-1", fails(NotFound("row gone"))) is False
    assert await guarded("event die of web-1", fails(UpstreamError("engine said no"))) is False
    assert await guarded("event die of web-1", fails(OverflowError("too big"))) is False
    levels = [(r.levelno, "web-1" in r.getMessage()) for r in caplog.records]
    assert levels == [(logging.DEBUG, True), (logging.WARNING, True), (logging.ERROR, True)]
