"""Property-based: thousands of malformed bodies and wrong secrets never get a 5xx or change state.

Hypothesis runs in a worker thread and sends each example to the route on the test's event loop
(`run_coroutine_threadsafe`), so the real intake, database and registry pool answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from docker import DockerClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from services.auth.limits import RequestRate
from services.store.models import Deploy, Project, SeenTag
from services.types import LABEL_INSTALLATION
from tests.support.detection import detected, hook_path, receiver_for, webhook_client
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

ANSWERS = {202, 400, 401, 404, 413, 422}
Post = Callable[[str, bytes, dict[str, str]], httpx.Response]

leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
values = st.recursive(
    leaf,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=16,
)
refs = st.one_of(
    st.text(max_size=60),
    st.from_regex(r"[A-Za-z0-9.:/_@+-]{0,60}", fullmatch=True),
    st.builds(
        "{}/{}:{}".format,
        st.sampled_from(["ghcr.io", "127.0.0.1:1", "Git.Example.com", "docker.io", ""]),
        st.from_regex(r"[a-zA-Z0-9._/-]{0,20}", fullmatch=True),
        st.from_regex(r"[a-zA-Z0-9._:-]{0,20}", fullmatch=True),
    ),
)
ours = st.fixed_dictionaries({"image": refs | values}, optional={"digest": refs | values})
gitea = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["created", "deleted"]) | leaf,
        "package": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["container", "npm"]) | leaf,
                "name": refs | leaf,
                "version": refs | leaf,
                "owner": st.fixed_dictionaries({}, optional={"login": refs | leaf}) | leaf,
                "html_url": st.sampled_from(["https://git.example.com/a", "ftp://x", ""]) | leaf,
            },
        )
        | values,
    }
)
github = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["published", "updated", "deleted"]) | leaf,
        "registry_package": st.fixed_dictionaries(
            {"package_version": st.fixed_dictionaries({}, optional={"package_url": refs | leaf})},
            optional={"name": refs | leaf, "package_type": st.sampled_from(["CONTAINER", "npm"])},
        )
        | values,
    }
)
payloads = values | ours | gitea | github
bodies = st.one_of(
    payloads.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    payloads.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()),
    st.text(max_size=200).map(str.encode),
)
header_text = st.from_regex(r"[ -~]{0,70}", fullmatch=True)
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        ),
        "x-gitea-event-type": st.sampled_from(["package", "push", ""]),
        "x-github-event": st.sampled_from(["package", "registry_package", "ping"]),
        "x-hub-signature-256": header_text,
        "x-gitea-signature": header_text,
    },
)


async def test_malformed_bodies_and_wrong_secrets_never_5xx_nor_change_anything(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    async with make_world(docker_client, registry, tmp_path) as world:
        async with detected(world) as detection:
            unlimited = RequestRate(rate=1e9, burst=10**9)  # thousands of requests, one address
            receiver = receiver_for(world, detection, unlimited, time.monotonic)
            async with webhook_client(detection, receiver=receiver) as client:
                post = _poster(client, asyncio.get_running_loop())
                secret = world.settings.webhook_secret()
                statuses = await asyncio.to_thread(
                    _bodies_with_the_right_secret, post, hook_path(world)
                )
                await asyncio.to_thread(_wrong_secrets, post, secret)
        assert {202, 400, 401, 422} <= statuses  # the examples reached every layer
        assert _counts(world) == (1, 0, 0)  # only the world's own project
        label = f"{LABEL_INSTALLATION}={world.settings.installation_id()}"
        assert world.client.containers.list(all=True, filters={"label": label}) == []


def _bodies_with_the_right_secret(post: Post, path: str) -> set[int]:
    statuses: set[int] = set()

    @settings(
        max_examples=2000,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies, sent=headers)
    def check(body: bytes, sent: dict[str, str]) -> None:
        answer = post(path, body, sent)
        assert answer.status_code in ANSWERS, (answer.status_code, answer.text)
        assert answer.status_code != 404
        answer.json()  # always JSON
        statuses.add(answer.status_code)

    check()
    return statuses


def _wrong_secrets(post: Post, real: str) -> None:
    guesses = st.text(min_size=1, max_size=80) | st.sampled_from(
        [real[:-1], real + "0", real + "/", "0/", "a/b", "../" + real]
    )

    @settings(max_examples=1000, deadline=None, database=None, derandomize=True)
    @given(guess=guesses.filter(lambda g: g != real), body=bodies)
    def check(guess: str, body: bytes) -> None:
        answer = post(f"/api/webhook/{quote(guess, safe='')}", body, {})
        assert answer.status_code in (404, 405), (guess, answer.status_code)

    check()


def _poster(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> Post:
    def post(path: str, body: bytes, sent: dict[str, str]) -> httpx.Response:
        request = client.post(path, content=body, headers=sent)
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=30)

    return post


def _counts(world: World) -> tuple[Any, ...]:
    with world.db.session() as session:
        return tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Project, Deploy, SeenTag)
        )
