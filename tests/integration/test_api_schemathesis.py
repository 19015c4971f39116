"""Property-based run of schemathesis over the real process's OpenAPI schema: no internal errors.

The app runs as `python -m app` (NiceGUI, guard, every route), seeded with a project whose
registry and NPM cannot be reached, and with a Docker host that does not exist: every call to an
outside system fails fast and safely (no image is ever pulled), and must come back as our
502/504 error, never as a crash. Each operation gets a bounded number of generated requests,
derandomized, so the run is repeatable and takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode

from services.secrets import generate_key_hex
from tests.integration.test_app_process import ADMIN_PASSWORD, running_app

SEED = """
global: {domain: example.test, network: dw-fuzz}
npm: {url: "http://127.0.0.1:9", email: bot@example.test, password: npm-pass}
registries:
  local: {url: "http://127.0.0.1:9", username: ci, token: reg-token}
projects:
  web:
    registry: local
    image: 127.0.0.1:9/demo/web
    port: 8080
    env: {MODE: prod, KEY: {value: s3cret, secret: true}}
    stages:
      dev: {tag_pattern: "*", max_instances: 2}
      prod: {tag_pattern: "v*", promote_from: dev, confirm: true, subdomain: web}
"""
UPSTREAM_STATUSES = (502, 504)  # a registry, NPM or Docker failed: a designed answer
EXAMPLES = 12  # generated requests per operation


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("schemathesis")
    (root / "seed.yaml").write_text(SEED)
    env = {
        "ENCRYPTION_KEY": generate_key_hex(),
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DOCKER_HOST": f"unix://{root}/no-docker.sock",
        "DW_LOG_LEVEL": "warning",
    }
    with running_app(root / "data", **env) as (url, _log):
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = httpx.post(f"{url}/api/auth/login", json=login).json()["token"]
        yield url, token


def check_no_crash(response: Any) -> None:
    """Below 500, or an upstream failure (502/504) in our error shape; never 500 or a page."""
    if response.status_code < 500:
        return
    assert response.status_code in UPSTREAM_STATUSES, response.text[:2000]
    body = response.json()
    assert set(body) == {"errors"} and body["errors"][0]["message"], body


def cases(operation: APIOperation) -> st.SearchStrategy[Case]:
    """Valid requests and requests that break the schema (wrong types, missing fields...)."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def exercise(operation: APIOperation, url: str, token: str) -> None:
    """Send EXAMPLES generated requests to one operation; fails on the first crash."""
    public = operation.definition.raw.get("security") == []
    headers = {} if public else {"Authorization": f"Bearer {token}"}  # logout: never ours

    @given(case=cases(operation))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure shows its request
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=30)
        try:
            check_no_crash(response)
        except AssertionError as exc:
            raise AssertionError(f"{case.as_curl_command(headers)}\n{exc}") from None

    run()


def test_no_generated_request_makes_the_app_fail(served: tuple[str, str]) -> None:
    url, token = served
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", headers=headers, timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: dict[str, str] = {}
    for operation in operations:
        name = f"{operation.method.upper()} {operation.path}"
        try:
            exercise(operation, url, token)
        except AssertionError as exc:
            failures[name] = str(exc)

    assert len(operations) >= 40  # every public route and the extras are in the schema
    assert not failures, "\n\n".join(f"{name}: {text}" for name, text in failures.items())
