"""Tag globs and newest-first ordering."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import tags
from services.tags import matches, sort_newest_first, stages_for_tag


@dataclass
class FakeStage:
    name: str
    tag_pattern: str


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("dev-*", "dev-12", True),
        ("dev-*", "dev-", True),
        ("dev-*", "Dev-12", False),
        ("dev-*", "feature-dev-1", False),
        ("v*", "v1.2.0", True),
        ("v*", "V1.2.0", False),
        ("*", "anything", True),
        ("v?.*", "v1.2", True),
        ("v?.*", "v10.2", False),
        ("v[0-9]*", "v1", True),
        ("v[0-9]*", "vx", False),
        ("release-[!x]*", "release-a", True),
        ("release-[!x]*", "release-x", False),
        ("latest", "latest", True),
        ("latest", "latest2", False),
        ("feature/*", "feature/abc", True),
    ],
)
def test_matches(pattern: str, tag: str, expected: bool) -> None:
    assert matches(pattern, tag) is expected


def test_stages_for_tag_keeps_order_and_allows_several() -> None:
    dev = FakeStage("dev", "dev-*")
    rel = FakeStage("rel", "v*")
    prod = FakeStage("prod", "v*")
    stages = [dev, rel, prod]
    assert stages_for_tag(stages, "v1.0.0") == [rel, prod]
    assert stages_for_tag(stages, "dev-3") == [dev]
    assert stages_for_tag(stages, "main") == []
    assert stages_for_tag([], "v1") == []


def test_stages_for_tag_accepts_any_iterable() -> None:
    stages = (FakeStage(name, "*") for name in ("a", "b"))
    assert [s.name for s in stages_for_tag(stages, "x")] == ["a", "b"]


def test_numeric_components_compare_as_numbers() -> None:
    assert sort_newest_first(["dev-9", "dev-10", "dev-2"]) == ["dev-10", "dev-9", "dev-2"]


def test_versions_before_other_tags_highest_first() -> None:
    tags = ["latest", "v1.2.0", "dev-3", "v1.10.0", "v1.9.1", "main"]
    assert sort_newest_first(tags) == ["v1.10.0", "v1.9.1", "v1.2.0", "main", "latest", "dev-3"]


def test_semver_precedence_from_the_spec() -> None:
    """The ordering example of semver.org §11, newest first."""
    ordered = [
        "1.0.0",
        "1.0.0-rc.1",
        "1.0.0-beta.11",
        "1.0.0-beta.2",
        "1.0.0-beta",
        "1.0.0-alpha.beta",
        "1.0.0-alpha.1",
        "1.0.0-alpha",
    ]
    shuffled = ordered[:]
    random.Random(4).shuffle(shuffled)
    assert sort_newest_first(shuffled) == ordered


def test_prerelease_parts_compare_naturally() -> None:
    assert sort_newest_first(["v2.0.0-rc9", "v2.0.0-rc10"]) == ["v2.0.0-rc10", "v2.0.0-rc9"]


def test_release_is_newer_than_its_prereleases_but_older_than_next() -> None:
    tags = ["v1.2.0-rc.1", "v1.2.0", "v1.3.0-rc.1", "v1.1.9"]
    assert sort_newest_first(tags) == ["v1.3.0-rc.1", "v1.2.0", "v1.2.0-rc.1", "v1.1.9"]


def test_build_metadata_does_not_order_but_ties_are_stable() -> None:
    tags = ["v1.2.0+build.5", "v1.2.0+build.10", "v1.1.0"]
    result = sort_newest_first(tags)
    assert result[-1] == "v1.1.0"
    assert set(result[:2]) == {"v1.2.0+build.5", "v1.2.0+build.10"}
    assert sort_newest_first(reversed(tags)) == result


def test_trailing_zeros_do_not_make_a_version_newer() -> None:
    result = sort_newest_first(["1.2", "v1.2.0", "1.1.9", "1.2.1"])
    assert result[0] == "1.2.1"
    assert set(result[1:3]) == {"1.2", "v1.2.0"}
    assert result[3] == "1.1.9"


def test_short_and_date_versions() -> None:
    assert sort_newest_first(["v1", "v10", "v2"]) == ["v10", "v2", "v1"]
    dates = ["2024-01-05", "2024-12-01", "2023-12-31"]
    assert sort_newest_first(dates) == ["2024-12-01", "2024-01-05", "2023-12-31"]


def test_empty_and_unicode() -> None:
    assert sort_newest_first([]) == []
    assert sort_newest_first(["ä-2", "ä-10"]) == ["ä-10", "ä-2"]


_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,20}", fullmatch=True)


@given(st.lists(_tag, max_size=30))
def test_sort_is_a_permutation(tags: list[str]) -> None:
    assert sorted(sort_newest_first(tags)) == sorted(tags)


@given(st.lists(_tag, max_size=30), st.randoms())
def test_sort_does_not_depend_on_input_order(tags: list[str], rnd: random.Random) -> None:
    shuffled = tags[:]
    rnd.shuffle(shuffled)
    assert sort_newest_first(shuffled) == sort_newest_first(tags)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=20, unique=True))
def test_numbered_dev_tags_sort_by_number(numbers: list[int]) -> None:
    tags = [f"dev-{n}" for n in numbers]
    assert sort_newest_first(tags) == [f"dev-{n}" for n in sorted(numbers, reverse=True)]


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
        min_size=1,
        max_size=20,
        unique=True,
    )
)
def test_semver_tags_sort_by_version(versions: list[tuple[int, int, int]]) -> None:
    tags = [f"v{a}.{b}.{c}" for a, b, c in versions]
    expected = [f"v{a}.{b}.{c}" for a, b, c in sorted(versions, reverse=True)]
    assert sort_newest_first(tags) == expected


@pytest.mark.parametrize("pattern", ["*", "dev-*", "v[0-9]*", "[!x]?_1.2", "release-[a-c]*"])
def test_a_glob_over_tags_is_a_usable_pattern(pattern: str) -> None:
    assert tags.pattern_problem(pattern) is None


@pytest.mark.parametrize("pattern", ['v*" x="', "a b", "<b>", "v'1", "dev/*", "", " ", "x" * 129])
def test_anything_else_is_refused(pattern: str) -> None:
    assert tags.pattern_problem(pattern)
