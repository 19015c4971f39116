"""Webhook bodies, signatures, secrets and the auto-create allow-list, without any server."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import pytest

from services.detect.auto_create import allowed
from services.detect.webhook import Denials, Rejected, decode_body, fingerprint, verify_signatures
from services.detect.webhook_payloads import Pushed, extract, lower_name
from services.errors import ValidationFailed
from services.imageref import ImageRef

DIGEST = "sha256:" + "ab" * 32


def _paths(exc: ValidationFailed) -> list[str]:
    return [e.path for e in exc.errors]


# --- our own body -----------------------------------------------------------------------------
def test_our_body_gives_a_lowercased_reference_with_its_tag() -> None:
    found = extract({"image": "Git.Example.com/Alexei/App:Dev-1", "digest": DIGEST}, {})
    (pushed,) = found.pushed
    assert str(pushed.ref) == "git.example.com/alexei/app:Dev-1" and pushed.digest == DIGEST


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": 5}, "image"),
        ({"image": "ghcr.io/o/app"}, "image"),  # no tag
        ({"image": "ghcr.io/o/app:"}, "image"),
        ({"image": "https://ghcr.io/o/app:v1"}, "image"),
        ({"image": "ghcr.io/o/app:v1", "digest": "sha256:1"}, "digest"),
        ({"image": "ghcr.io/o/app:v1", "digest": 7}, "digest"),
        ([], "body"),
        ({"something": "else"}, "body"),
    ],
)
def test_bad_bodies_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        extract(body, {})
    assert _paths(caught.value) == [field]


def test_lower_name_keeps_tag_and_digest_as_sent() -> None:
    assert lower_name("Host:5000/A/B:TaG") == "host:5000/a/b:TaG"
    assert lower_name("A/B@sha256:X") == "a/b@sha256:X"
    assert lower_name("Host:5000/A/B") == "host:5000/a/b"


# --- Gitea / Forgejo --------------------------------------------------------------------------
def _gitea(**package: Any) -> dict[str, Any]:
    base = {
        "type": "container",
        "name": "web-app",
        "version": "v1.2.0",
        "owner": {"login": "Alexei"},
        "html_url": "https://git.example.com/alexei/-/packages/container/web-app/v1.2.0",
    }
    return {"action": "created", "package": base | package}


def test_gitea_package_event_uses_the_html_url_host() -> None:
    (pushed,) = extract(_gitea(), {"x-gitea-event-type": "package"}).pushed
    assert pushed == Pushed(ImageRef("git.example.com", "alexei/web-app", "v1.2.0"))


def test_gitea_host_comes_from_the_configured_registry_when_the_url_disagrees() -> None:
    body = _gitea(html_url="https://proxy.example.org/x")
    (pushed,) = extract(body, {}, ["git.example.com:3000"]).pushed
    assert pushed.ref.registry == "git.example.com:3000"


def test_gitea_without_any_host_is_refused_naming_html_url() -> None:
    body = _gitea()
    del body["package"]["html_url"]
    with pytest.raises(ValidationFailed) as caught:
        extract(body, {})
    assert _paths(caught.value) == ["package.html_url"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**_gitea(), "action": "deleted"}, "not a push"),
        (_gitea(version="sha256:" + "1" * 64), "untagged"),
        (_gitea(version=""), "untagged"),
        (_gitea(type="npm"), "not a container"),
    ],
)
def test_gitea_events_that_are_not_tagged_pushes_are_ignored(body: Any, reason: str) -> None:
    found = extract(body, {})
    assert found.pushed == () and reason in found.ignored[0]


def test_other_events_are_ignored_with_their_name() -> None:
    found = extract({"zen": "hi"}, {"x-github-event": "ping"})
    assert found.ignored == ("event 'ping' is not a package push",)


# --- GitHub -----------------------------------------------------------------------------------
def _github(url: str, tag: str, key: str = "package") -> dict[str, Any]:
    version = {
        "version": DIGEST,
        "package_url": url,
        "container_metadata": {"tag": {"name": tag, "digest": DIGEST}},
    }
    package = {
        "name": "App",
        "package_type": "CONTAINER",
        "owner": {"login": "Owner"},
        "package_version": version,
    }
    return {"action": "published", key: package}


@pytest.mark.parametrize("key", ["package", "registry_package"])
def test_github_events_give_reference_and_digest(key: str) -> None:
    (pushed,) = extract(_github("ghcr.io/Owner/App:v2", "v2", key), {}).pushed
    assert str(pushed.ref) == "ghcr.io/owner/app:v2" and pushed.digest == DIGEST


def test_github_without_package_url_builds_the_reference_from_owner_and_name() -> None:
    body = _github("", "v3")
    del body["package"]["package_version"]["package_url"]
    (pushed,) = extract(body, {}).pushed
    assert str(pushed.ref) == "ghcr.io/owner/app:v3"


def test_github_untagged_push_is_ignored() -> None:
    found = extract(_github("ghcr.io/owner/app:", ""), {"x-github-event": "package"})
    assert found.pushed == () and "untagged" in found.ignored[0]


# --- decoding, signatures, secrets ------------------------------------------------------------
def test_form_encoded_bodies_carry_json_in_payload() -> None:
    raw, data = decode_body(
        b"payload=%7B%22image%22%3A%22a%2Fb%3Av1%22%7D", "application/x-www-form-urlencoded"
    )
    assert raw == b'{"image":"a/b:v1"}' and data == {"image": "a/b:v1"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"\xff\xfe", ""),
        (b"[" * 50_000, ""),  # deep nesting: RecursionError inside json
        (b"nothing=here", "application/x-www-form-urlencoded"),
    ],
)
def test_undecodable_bodies_are_400(body: bytes, content_type: str) -> None:
    with pytest.raises(Rejected) as caught:
        decode_body(body, content_type)
    assert caught.value.status == 400


def test_signatures_verify_with_the_url_secret_over_the_raw_body() -> None:
    raw = json.dumps({"image": "a/b:v1"}).encode()
    good = hmac.new(b"secret", raw, hashlib.sha256).hexdigest()
    verify_signatures(
        {"x-hub-signature-256": f"sha256={good}", "x-gitea-signature": good}, (raw,), "secret"
    )
    verify_signatures({"x-gitea-signature": "", "x-forgejo-signature": " "}, (raw,), "secret")
    for bad in ("sha256=" + "0" * 64, "é", good[:-1]):
        with pytest.raises(Rejected) as caught:
            verify_signatures({"x-hub-signature-256": bad}, (raw,), "secret")
        assert caught.value.status == 401


def test_secret_fingerprints_have_one_length_whatever_the_guess() -> None:
    lengths = {len(fingerprint(s)) for s in ("", "x", "é" * 500, "\ud800", "a" * 10_000)}
    assert lengths == {32}


def test_refused_secrets_are_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    denials = Denials(60.0, lambda: now[0])
    caplog.set_level(logging.WARNING, logger="services.detect.webhook")
    for _ in range(5):
        denials.record("10.0.0.1")
    now[0] += 61
    denials.record("10.0.0.2")

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "1 request(s)" in messages[0] and "5 request(s)" in messages[1]


# --- the auto-create allow-list ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "patterns", "expected"),
    [
        ("git.example.com/alexei/app", ["git.example.com/alexei/*"], True),
        ("git.example.com/alexei/team/app", ["git.example.com/alexei/*"], True),
        ("git.example.com/bob/app", ["git.example.com/alexei/*"], False),
        ("git.example.com/alexei/app", ["https://Git.Example.com/Alexei/*"], True),
        ("ghcr.io/me/app", [], False),
        ("ghcr.io/me/app", ["", "  "], False),
    ],
)
def test_allow_list_globs(image: str, patterns: list[str], expected: bool) -> None:
    assert allowed(ImageRef.parse_name(image), patterns) is expected
