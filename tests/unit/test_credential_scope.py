"""Where stored credentials may go: the origin rule for secrets, the host rule for images
(`services.credential_scope`, applied to registries by `services.registry.names`)."""

from __future__ import annotations

import pytest

from services import credential_scope
from services.registry import names


@pytest.mark.parametrize(
    ("saved", "given", "kept"),
    [
        ("http://npm:81", "http://npm:81/", True),
        ("http://npm:81", "http://NPM:81/api", True),  # host case and path do not matter
        ("https://npm.example.com", "https://npm.example.com:443", True),  # the default port
        ("http://npm:81", "https://npm:81", False),  # scheme
        ("http://npm:81", "http://npm:82", False),  # port
        ("http://npm:81", "http://127.0.0.1:81", False),  # host
        ("", "http://npm:81", False),  # nothing saved: a new address needs the secret
        ("http://npm:81", "", True),  # clearing the address sends nothing anywhere
        ("not a url", "not a url", False),
    ],
)
def test_a_secret_stays_only_for_its_own_origin(saved: str, given: str, kept: bool) -> None:
    assert credential_scope.may_keep(saved, given) is kept


@pytest.mark.parametrize(
    ("saved", "given", "kept"),
    [
        (("https://git.example.com", "gitea"), ("https://git.example.com/", "generic"), True),
        (("https://docker.io", "dockerhub"), ("https://hub.docker.com", "dockerhub"), True),
        (("https://git.example.com", "gitea"), ("https://git.example.com", "dockerhub"), False),
        (("http://127.0.0.1:5000", "generic"), ("http://127.0.0.1:5001", "generic"), False),
    ],
)
def test_a_registry_token_stays_only_for_its_api_origin(
    saved: tuple[str, str], given: tuple[str, str], kept: bool
) -> None:
    assert names.same_api(*saved, *given) is kept


@pytest.mark.parametrize(
    ("image", "url", "kind"),
    [
        ("git.example.com/me/app", "https://git.example.com", "gitea"),
        ("git.example.com:443/me/app", "https://git.example.com/", "gitea"),
        ("GIT.example.com/me/app", "https://git.example.com", "gitea"),
        ("127.0.0.1:5000/me/app", "http://127.0.0.1:5000", "generic"),
        ("[::1]:5000/me/app", "http://[::1]:5000", "generic"),
        ("nginx", "https://hub.docker.com", "dockerhub"),
        ("docker.io/me/app", "https://whatever.example", "dockerhub"),
        ("index.docker.io/me/app", "https://docker.io", "generic"),
        ("registry-1.docker.io/me/app", "https://docker.io", "dockerhub"),
        ("ghcr.io/me/app", "https://github.com", "github"),
    ],
)
def test_an_image_on_its_registrys_host_is_fine(image: str, url: str, kind: str) -> None:
    assert names.image_host_problem(image, url, kind, "reg") is None


@pytest.mark.parametrize(
    ("image", "url", "kind"),
    [
        ("ghcr.io/me/app", "https://git.example.com", "gitea"),
        ("me/app", "https://git.example.com", "gitea"),  # a bare name is Docker Hub
        ("git.example.com:5000/me/app", "https://git.example.com", "gitea"),
        ("127.0.0.1:5001/me/app", "http://127.0.0.1:5000", "generic"),
        ("git.example.com/me/app", "https://git.example.com", "dockerhub"),
        ("docker.io/me/app", "https://github.com", "github"),
        ("git.example.com.evil.org/me/app", "https://git.example.com", "gitea"),
    ],
)
def test_an_image_elsewhere_is_refused_naming_both_hosts(image: str, url: str, kind: str) -> None:
    problem = names.image_host_problem(image, url, kind, "reg")

    assert problem is not None and "registry 'reg' is at" in problem
    assert "credentials are only sent there" in problem
