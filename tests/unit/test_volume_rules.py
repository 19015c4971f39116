"""The text rules of volume entries (shared by deploys, the volume service and the seed)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services import volume_rules as rules
from services.errors import FieldError, ValidationFailed


@dataclass(frozen=True)
class V:
    source: str
    target: str
    mode: str = "shared"


def message(check: object, *args: str) -> str:
    with pytest.raises(ValidationFailed) as caught:
        check(*args)  # type: ignore[operator]
    (error,) = caught.value.errors
    return error.message


def test_host_paths_are_normalised() -> None:
    assert rules.check_source("//data/./app//x/", "s") == "/data/app/x"
    assert rules.check_target("/app/./data/", "t") == "/app/data"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/data/../etc", "must not contain '..'"),
        ("../data", "Docker volume name"),
        ("data/x", "Docker volume name"),
        ("", "Docker volume name"),
        ("-data", "Docker volume name"),
        ("/data/\0x", "at most"),
        ("/" + "a" * 5000, "at most"),
    ],
)
def test_bad_sources_are_refused(source: str, expected: str) -> None:
    assert expected in message(rules.check_source, source, "volumes.0.source")


def test_named_volumes_are_sources_without_a_slash() -> None:
    assert rules.is_named("app_data.v1") and not rules.is_named("/data")
    assert rules.check_source("app_data.v1", "s") == "app_data.v1"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("app", "absolute"), ("/", "container's root"), ("/app/../etc", "'..'"), ("//", "root")],
)
def test_bad_targets_are_refused(target: str, expected: str) -> None:
    assert expected in message(rules.check_target, target, "t")


def test_isolated_needs_a_host_path_and_modes_are_closed() -> None:
    assert "need a host path" in message(rules.check_mode, "isolated", "appdata", "m")
    assert "one of 'shared' or 'isolated'" in message(rules.check_mode, "copy", "/d", "m")
    assert rules.check_mode("isolated", "/d", "m") == "isolated"


def test_list_problems_name_each_field_and_repeated_targets() -> None:
    errors = rules.list_problems(
        [V("/d", "/a"), V("rel/x", "/b"), V("/e", "/a/"), V("vol", "/c", "isolated")], "volumes"
    )
    assert [e.path for e in errors] == [
        "volumes.1.source",
        "volumes.3.mode",
        "volumes.2.target",
    ]
    assert errors[2] == FieldError("volumes.2.target", "is mounted twice")


def test_list_size_is_limited() -> None:
    many = [V(f"/d/{i}", f"/t/{i}") for i in range(rules.MAX_VOLUMES + 1)]
    assert rules.list_problems(many, "volumes")[0].path == "volumes"


@pytest.mark.parametrize(
    ("source", "roots"),
    [
        ("/srv/other", ["/data"]),
        ("/datastore", ["/data"]),
        ("/", ["/data"]),
    ],
)
def test_sources_outside_the_roots_are_refused(source: str, roots: list[str]) -> None:
    problem = rules.root_problem(source, roots)
    assert problem is not None and "must lie under one of the volume_roots" in problem


@pytest.mark.parametrize(
    ("source", "roots"),
    [
        ("/etc", ["/"]),
        ("/etc/passwd", ["/"]),
        ("/proc/1", ["/"]),
        ("/sys", ["/"]),
        ("/var/run/docker.sock", ["/"]),
        ("/var/run/docker.sock", ["/var/run"]),  # the socket must be listed itself
        ("/run/docker.sock", ["/run"]),
        ("/var/lib/docker/volumes", ["/var"]),
    ],
)
def test_dangerous_paths_are_refused_even_under_a_root(source: str, roots: list[str]) -> None:
    problem = rules.root_problem(source, roots)
    assert problem is not None and "may not be mounted" in problem


@pytest.mark.parametrize(
    ("source", "roots"),
    [
        ("/", ["/"]),
        ("/home/app", ["/"]),
        ("/etc", ["/etc"]),
        ("/etc/app/conf", ["/etc/app"]),
        ("/var/run/docker.sock", ["/var/run/docker.sock"]),
        ("/data/app", ["/data"]),
    ],
)
def test_an_administrator_may_list_dangerous_roots_explicitly(
    source: str, roots: list[str]
) -> None:
    assert rules.root_problem(source, roots) is None


def test_isolated_folder_names_keep_tags_apart() -> None:
    assert rules.isolated_dir_name("rel", "v1.2.0") == "rel-v1.2.0"
    assert rules.isolated_dir_name("rel", "v1.0") != rules.isolated_dir_name("rel", "v1-0")
    assert rules.isolated_dir_name("dev", "a/b c") == "dev-a-b-c"
    long = rules.isolated_dir_name("dev", "x" * 300)
    assert len(long) == 200 and long != rules.isolated_dir_name("dev", "x" * 301)
