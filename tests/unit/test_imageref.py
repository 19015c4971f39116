"""Image reference parsing: grammar, Docker Hub normalisation, helpers and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import ValidationFailed
from services.imageref import ImageRef, parse

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("alexei/app:v1", "docker.io", "alexei/app", "v1", None),
        ("docker.io/nginx", "docker.io", "library/nginx", None, None),
        ("docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None),
        ("index.docker.io/alexei/app", "docker.io", "alexei/app", None, None),
        ("INDEX.Docker.IO/nginx", "docker.io", "library/nginx", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("LocalHost/app", "localhost", "app", None, None),
        ("localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", None),
        ("127.0.0.1:5000/demo/app:dev-1", "127.0.0.1:5000", "demo/app", "dev-1", None),
        ("[::1]:5000/demo/app:v2", "[::1]:5000", "demo/app", "v2", None),
        ("[2001:DB8::1]/app", "[2001:db8::1]", "app", None, None),
        ("ghcr.io/owner/x", "ghcr.io", "owner/x", None, None),
        ("GHCR.io/owner/x:V1_A", "ghcr.io", "owner/x", "V1_A", None),
        (
            "git.example.com/alexei/web-app-launcher",
            "git.example.com",
            "alexei/web-app-launcher",
            None,
            None,
        ),
        ("my-registry.local:8443/a/b/c/d:x", "my-registry.local:8443", "a/b/c/d", "x", None),
        ("nginx@" + SHA, "docker.io", "library/nginx", None, SHA),
        ("ghcr.io/o/app:v1.2.0@" + SHA, "ghcr.io", "o/app", "v1.2.0", SHA),
        ("a/b__c/d.e/f-g/h---i", "docker.io", "a/b__c/d.e/f-g/h---i", None, None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),
        ("  ghcr.io/o/app:v1  ", "ghcr.io", "o/app", "v1", None),
        ("x:_t", "docker.io", "library/x", "_t", None),
        ("x:" + "a" * 128, "docker.io", "library/x", "a" * 128, None),
    ],
)
def test_valid_references(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    assert ImageRef.parse(text) == ImageRef(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ghcr.io/Owner/x", "lowercase: write 'owner/x'"),
        ("Owner/x", "lowercase"),
        ("NGINX", "lowercase"),
        ("https://ghcr.io/o/app", "scheme"),
        ("ghcr.io/o/app:", "tag '' is empty"),
        ("ghcr.io/o/app:.v1", "must not start"),
        ("ghcr.io/o/app:-v1", "must not start"),
        ("ghcr.io/o/app:v1+build", "only letters, digits"),
        ("x:" + "a" * 129, "longer than 128"),
        ("ghcr.io//app", "empty part"),
        ("ghcr.io/app/", "empty part"),
        ("/app", "empty part"),
        ("ghcr.io/a..b", "may contain only"),
        ("ghcr.io/-a", "may contain only"),
        ("ghcr.io/a_", "may contain only"),
        ("ghcr.io/a___b", "may contain only"),
        ("ghcr.io/a b", "whitespace"),
        ("-bad.io/app", "registry host"),
        ("bad-.io/app", "registry host"),
        ("a..io/app", "registry host"),
        ("ghcr.io:0/app", "port"),
        ("ghcr.io:65536/app", "port"),
        ("ghcr.io:/app", "port"),
        ("ghcr.io:80:81/app", "port"),
        ("[::1/app", "unclosed"),
        ("[::g]/app", "IPv6"),
        ("[1.2.3.4]/app", "IPv6"),
        ("[::1]x/app", "after its IPv6"),
        ("nginx@sha256:abc", "digest"),
        ("nginx@sha256:" + "A" * 64, "lowercase hex"),
        ("nginx@sha256:" + "a" * 63, "exactly 64"),
        ("nginx@sha512:" + "a" * 64, "exactly 128"),
        ("nginx@" + "a" * 64, "digest"),
        ("nginx@1sha:" + "a" * 64, "digest"),
        ("a" * 64, "image id"),
        ("ghcr.io/" + "a" * 250, "longer than 255"),
    ],
)
def test_invalid_references(text: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ImageRef.parse(text)
    assert fragment in str(caught.value)
    assert caught.value.errors[0].path == "image"


def test_error_names_the_callers_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("ghcr.io/Owner/x", field="projects.web.image")
    assert caught.value.errors[0].path == "projects.web.image"
    assert "'ghcr.io/Owner/x'" in caught.value.errors[0].message


def test_non_string_input_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="must be a text"):
        ImageRef.parse(42)  # type: ignore[arg-type]


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ImageRef.parse("ghcr.io/" + "A" * 300)
    assert len(caught.value.errors[0].message) < 300


def test_unknown_digest_algorithm_with_enough_hex_is_accepted() -> None:
    ref = ImageRef.parse("app@multihash+base58:" + "a" * 40)
    assert ref.digest == "multihash+base58:" + "a" * 40


def test_name_and_canonical_string() -> None:
    ref = ImageRef.parse("nginx:1.27@" + SHA)
    assert ref.name == "docker.io/library/nginx"
    assert str(ref) == f"docker.io/library/nginx:1.27@{SHA}"
    assert str(ImageRef.parse("localhost:5000/a/b")) == "localhost:5000/a/b"


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("nginx", "nginx"),
        ("docker.io/library/nginx:1", "nginx:1"),
        ("alexei/app:v1", "alexei/app:v1"),
        ("library/a/b", "library/a/b"),
        ("ghcr.io/o/app:v1", "ghcr.io/o/app:v1"),
        ("nginx@" + SHA, "nginx@" + SHA),
    ],
)
def test_familiar_form(text: str, familiar: str) -> None:
    assert ImageRef.parse(text).familiar == familiar


def test_api_host() -> None:
    assert ImageRef.parse("nginx").api_host == "registry-1.docker.io"
    assert ImageRef.parse("nginx").is_docker_hub
    assert ImageRef.parse("ghcr.io/o/a").api_host == "ghcr.io"
    assert ImageRef.parse("localhost:5000/a").api_host == "localhost:5000"


def test_with_tag_replaces_tag_and_drops_digest() -> None:
    ref = ImageRef.parse("ghcr.io/o/app:v1@" + SHA)
    moved = ref.with_tag("v2")
    assert moved == ImageRef("ghcr.io", "o/app", "v2", None)
    assert ref.tag == "v1"


def test_with_tag_validates() -> None:
    ref = ImageRef.parse("ghcr.io/o/app")
    with pytest.raises(ValidationFailed) as caught:
        ref.with_tag("feature/x")
    assert caught.value.errors[0].path == "tag"


def test_require_tag() -> None:
    assert ImageRef.parse("ghcr.io/o/app:dev-3").require_tag() == "dev-3"
    with pytest.raises(ValidationFailed) as caught:
        ImageRef.parse("ghcr.io/o/app").require_tag(field="body.image")
    assert caught.value.errors[0].path == "body.image"
    assert "has no tag" in caught.value.errors[0].message


def test_parse_name_refuses_tag_and_digest() -> None:
    assert ImageRef.parse_name("git.example.com/a/b") == ImageRef("git.example.com", "a/b")
    for text in ("git.example.com/a/b:v1", "git.example.com/a/b@" + SHA):
        with pytest.raises(ValidationFailed, match="without tag or digest"):
            ImageRef.parse_name(text)


def test_ref_is_frozen_and_hashable() -> None:
    ref = ImageRef.parse("nginx")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, ImageRef.parse("docker.io/library/nginx")} == {ref}


# --- properties -----------------------------------------------------------------------------

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_separator = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    _alnum,
    st.lists(st.tuples(_separator, _alnum), max_size=3),
)
_path = st.lists(_component, min_size=1, max_size=4).map("/".join)
_host = st.sampled_from(
    ["ghcr.io", "localhost", "localhost:5000", "127.0.0.1:5000", "git.example.com", "[::1]:443"]
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)


@given(host=_host, path=_path, tag=st.none() | _tag)
def test_valid_references_round_trip(host: str, path: str, tag: str | None) -> None:
    text = f"{host}/{path}" + (f":{tag}" if tag is not None else "")
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (host, path, tag)
    assert str(ref) == text
    assert ImageRef.parse(str(ref)) == ref
    assert ImageRef.parse(ref.familiar) == ref


@given(path=_path.filter(lambda p: "." not in p.split("/")[0]), tag=st.none() | _tag)
def test_docker_hub_canonical_and_familiar_forms_agree(path: str, tag: str | None) -> None:
    ref = ImageRef.parse(path + (f":{tag}" if tag is not None else ""))
    assert ref.registry == "docker.io"
    assert "/" in ref.repository
    assert ImageRef.parse(str(ref)) == ref
    assert ImageRef.parse(ref.familiar) == ref


@given(st.text(max_size=60))
def test_parse_only_ever_raises_validation_failed(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except ValidationFailed as exc:
        assert exc.errors[0].path == "image"
    else:
        assert ImageRef.parse(str(ref)) == ref
