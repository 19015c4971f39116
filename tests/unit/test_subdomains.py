"""Subdomain labels: sanitising, pattern rendering, fqdn and uniqueness."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.errors import Conflict, ValidationFailed
from services.subdomains import (
    DEFAULT_PATTERN,
    check_unique,
    fqdn,
    render,
    sanitize_label,
    validate_label,
    validate_pattern,
)

LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PROJECT = "web-app-launcher"


# --- sanitize_label ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("dev", "dev"),
        ("v1.2.0", "v1-2-0"),
        ("v1.2.0+build.5", "v1-2-0-build-5"),
        ("feature/ABC_12", "feature-abc-12"),
        ("Dev-12", "dev-12"),
        ("--a--b__c..d--", "a-b-c-d"),
        ("_leading", "leading"),
        ("trailing.", "trailing"),
        ("a  b", "a-b"),
        ("Café-Crème", "cafe-creme"),
        ("Straße", "strasse"),
        ("ＡＢＣ１２", "abc12"),
        ("İstanbul", "istanbul"),
        ("naïve_ﬁle", "naive-file"),
        ("Ölçü 2.0", "olcu-2-0"),
        ("жук-1", "1"),
        ("中文-v1", "v1"),
        ("a–b", "a-b"),  # en dash
        ("x" * 63, "x" * 63),
    ],
)
def test_sanitize_examples(text: str, label: str) -> None:
    assert sanitize_label(text) == label


@pytest.mark.parametrize("text", ["", "...", "___", "-", "жук", "中文", "+.+"])
def test_sanitize_refuses_input_without_letters_or_digits(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sanitize_label(text, field="tag")
    assert caught.value.errors[0].path == "tag"
    assert "no letters or digits" in caught.value.errors[0].message


def test_long_label_gets_stable_hash_suffix_of_original_text() -> None:
    text = "Feature/" + "very-long-branch-name-" * 5
    label = sanitize_label(text)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    assert len(label) <= 63
    assert label.endswith("-" + digest)
    assert label.startswith("feature-very-long-branch-name-")
    assert sanitize_label(text) == label


def test_64_characters_are_shortened() -> None:
    assert len(sanitize_label("x" * 64)) == 63
    assert sanitize_label("x" * 64) != "x" * 63


def test_long_tags_differing_only_at_the_end_do_not_collide() -> None:
    base = "release-candidate-for-the-big-spring-cleanup-of-everything-"
    assert sanitize_label(base + "one") != sanitize_label(base + "two")


def test_long_tags_differing_only_in_replaced_characters_do_not_collide() -> None:
    base = "x" * 70
    assert sanitize_label(base + ".a") != sanitize_label(base + "_a")


def test_shortening_never_leaves_a_dash_before_the_suffix() -> None:
    label = sanitize_label("a" * 53 + "-" + "b" * 20)
    assert "--" not in label
    assert LABEL.match(label)


@given(st.text(max_size=200))
def test_sanitized_labels_are_valid_dns_labels(text: str) -> None:
    try:
        label = sanitize_label(text)
    except ValidationFailed:
        assert not re.search(r"[a-z0-9]", _rough_fold(text))
        return
    assert LABEL.match(label)


@given(st.text(min_size=1, max_size=200))
def test_sanitize_is_idempotent(text: str) -> None:
    try:
        label = sanitize_label(text)
    except ValidationFailed:
        return
    assert sanitize_label(label) == label


# At least 64 letters and digits, so the cleaned text is always too long and gets hashed.
_long = st.tuples(
    st.text(alphabet="abcdefghij0123456789", min_size=64, max_size=100),
    st.text(alphabet="abcdefghij0123456789._-+/", max_size=40),
).map("".join)


@given(_long, _long)
def test_distinct_long_inputs_never_collide(a: str, b: str) -> None:
    assume(a != b)
    assert sanitize_label(a) != sanitize_label(b)


@given(st.text(alphabet="abc", min_size=1, max_size=20), st.text(alphabet="abc", max_size=60))
def test_shared_long_prefix_still_distinct(prefix: str, tail: str) -> None:
    a = prefix * 10 + tail
    b = prefix * 10 + tail + "z"
    assume(len(a) > 63)
    assert sanitize_label(a) != sanitize_label(b)


def _rough_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(ch for ch in folded if ch.isascii())


# --- render ------------------------------------------------------------------------------------


def test_spec_stage_default() -> None:
    assert render(DEFAULT_PATTERN, project=PROJECT, stage="dev") == "stage-dev-web-app-launcher"


def test_spec_stage_with_tag() -> None:
    label = render(DEFAULT_PATTERN, project=PROJECT, stage="rel", tag="v1.2.0")
    assert label == "stage-rel-web-app-launcher-v1-2-0"
    assert fqdn(label, "example.com") == "stage-rel-web-app-launcher-v1-2-0.example.com"


def test_spec_custom_subdomain_for_the_stage_default() -> None:
    label = render(DEFAULT_PATTERN, project=PROJECT, stage="prod", custom="launcher")
    assert label == "launcher"
    assert fqdn(label, "example.com") == "launcher.example.com"


def test_custom_subdomain_does_not_replace_the_tag_label() -> None:
    label = render(DEFAULT_PATTERN, project=PROJECT, stage="prod", tag="v1.2.0", custom="launcher")
    assert label == "stage-prod-web-app-launcher-v1-2-0"


def test_blank_custom_means_none() -> None:
    assert render(DEFAULT_PATTERN, project="p", stage="dev", custom="  ") == "stage-dev-p"


def test_invalid_custom_subdomain_is_refused_not_rewritten() -> None:
    with pytest.raises(ValidationFailed) as caught:
        render(DEFAULT_PATTERN, project="p", stage="prod", custom="Launcher.App")
    error = caught.value.errors[0]
    assert error.path == "subdomain"
    assert "did you mean 'launcher-app'" in error.message


@pytest.mark.parametrize(
    ("tag", "label"),
    [
        ("v1.2.0+build.5", "stage-rel-web-app-launcher-v1-2-0-build-5"),
        ("feature/ABC_12", "stage-rel-web-app-launcher-feature-abc-12"),
        ("-weird-", "stage-rel-web-app-launcher-weird"),
    ],
)
def test_tag_values_are_sanitised(tag: str, label: str) -> None:
    assert render(DEFAULT_PATTERN, project=PROJECT, stage="rel", tag=tag) == label


def test_pattern_with_tag_placeholder_is_used_as_is() -> None:
    pattern = "{project}-{tag}-{stage}"
    assert render(pattern, project="web", stage="dev", tag="dev-3") == "web-dev-3-dev"
    assert render(pattern, project="web", stage="dev") == "web-dev"


def test_values_with_uppercase_and_dots_are_sanitised() -> None:
    assert render("{stage}-{project}", project="My.App", stage="Dev") == "dev-my-app"


def test_long_tag_keeps_whole_label_within_63() -> None:
    tag = "feature-" + "make-everything-faster-" * 6
    label = render(DEFAULT_PATTERN, project=PROJECT, stage="rel", tag=tag)
    assert len(label) == 63
    assert LABEL.match(label)
    assert label.startswith("stage-rel-web-app-launcher-feature-make")


def test_long_tags_sharing_a_prefix_render_distinct_labels() -> None:
    base = "feature-" + "make-everything-faster-" * 6
    one = render(DEFAULT_PATTERN, project=PROJECT, stage="rel", tag=base + "1")
    two = render(DEFAULT_PATTERN, project=PROJECT, stage="rel", tag=base + "2")
    assert one != two


def test_render_is_deterministic() -> None:
    tag = "x" * 100
    assert render(DEFAULT_PATTERN, project="p", stage="s", tag=tag) == render(
        DEFAULT_PATTERN, project="p", stage="s", tag=tag
    )


@pytest.mark.parametrize("field", ["project", "stage", "tag"])
def test_empty_values_are_refused_naming_their_field(field: str) -> None:
    values = {"project": "p", "stage": "s", "tag": "t"} | {field: "..."}
    with pytest.raises(ValidationFailed) as caught:
        render(DEFAULT_PATTERN, **values)
    assert caught.value.errors[0].path == field


@given(
    project=st.text(min_size=1, max_size=80),
    stage=st.text(min_size=1, max_size=40),
    tag=st.none() | st.text(min_size=1, max_size=200),
)
def test_render_always_gives_one_valid_label(project: str, stage: str, tag: str | None) -> None:
    try:
        label = render(DEFAULT_PATTERN, project=project, stage=stage, tag=tag)
    except ValidationFailed as exc:
        assert exc.errors[0].path in {"project", "stage", "tag"}
        return
    assert LABEL.match(label)


@given(a=_long, b=_long)
def test_distinct_long_tags_render_distinct_labels(a: str, b: str) -> None:
    assume(a != b)
    one = render(DEFAULT_PATTERN, project=PROJECT, stage="dev", tag=a)
    two = render(DEFAULT_PATTERN, project=PROJECT, stage="dev", tag=b)
    assert one != two
    assert LABEL.match(one) and LABEL.match(two)


# --- validate_pattern ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["stage-{stage}-{project}", "{project}-{stage}", "{project}{stage}", "{tag}-{stage}-{project}"],
)
def test_valid_patterns(pattern: str) -> None:
    validate_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("stage-{stage}-{project}-{branch}", "unknown placeholder '{branch}'"),
        ("{}-{stage}-{project}", "unknown placeholder '{}'"),
        ("{stage.name}-{project}", "unknown placeholder"),
        ("{stage!r}-{project}", "without a format spec"),
        ("{stage:>5}-{project}", "without a format spec"),
        ("{stage}.{project}", "may contain only lowercase"),
        ("Stage-{stage}-{project}", "may contain only lowercase"),
        ("{stage}_{project}", "may contain only lowercase"),
        ("{{stage}}-{project}", "may contain only lowercase"),
        ("{stage-{project}", "unmatched"),
        ("{project}", "must contain {stage}"),
        ("{tag}", "must contain {stage} and {project}"),
        ("", "must contain"),
    ],
)
def test_invalid_patterns_name_the_setting(pattern: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_pattern(pattern)
    assert caught.value.errors[0].path == "subdomain_pattern"
    assert fragment in caught.value.errors[0].message


def test_render_validates_the_pattern() -> None:
    with pytest.raises(ValidationFailed) as caught:
        render("{stage}-{project}-{owner}", project="p", stage="s")
    assert caught.value.errors[0].path == "subdomain_pattern"


# --- validate_label / fqdn ---------------------------------------------------------------------


@pytest.mark.parametrize("label", ["a", "launcher", "a-b", "0", "x" * 63])
def test_validate_label_accepts(label: str) -> None:
    assert validate_label(label) == label


@pytest.mark.parametrize("label", ["", "-a", "a-", "A", "a.b", "a_b", "x" * 64, "é"])
def test_validate_label_refuses(label: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_label(label)


def test_fqdn_normalises_the_domain() -> None:
    assert fqdn("app", "Example.COM.") == "app.example.com"
    assert fqdn("app", " home.example.com ") == "app.home.example.com"


@pytest.mark.parametrize("domain", ["", ".", "exa mple.com", "a..b", "-a.com", "a_b.com"])
def test_fqdn_refuses_bad_domains(domain: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        fqdn("app", domain)
    assert caught.value.errors[0].path == "domain"


def test_fqdn_refuses_too_long_names() -> None:
    domain = ".".join(["d" * 60] * 4)
    with pytest.raises(ValidationFailed, match="253"):
        fqdn("x" * 10, domain)


def test_fqdn_refuses_bad_label() -> None:
    with pytest.raises(ValidationFailed):
        fqdn("a.b", "example.com")


# --- check_unique --------------------------------------------------------------------------------


def test_check_unique_passes_when_free() -> None:
    check_unique(["a", "b"], {"c": "web/dev dev-1"})
    check_unique([], {"c": "x"})


def test_check_unique_names_the_holder() -> None:
    with pytest.raises(Conflict) as caught:
        check_unique(["stage-dev-web", "launcher"], {"launcher": "shop/prod v3 (instance 7)"})
    assert "'launcher'" in str(caught.value)
    assert "shop/prod v3 (instance 7)" in str(caught.value)
    assert "stage-dev-web" not in str(caught.value)


def test_check_unique_reports_every_clash_once() -> None:
    taken = {"a": "one", "b": "two"}
    with pytest.raises(Conflict) as caught:
        check_unique(["a", "b", "a"], taken)
    message = str(caught.value)
    assert message.count("'a'") == 1
    assert "one" in message and "two" in message


def test_check_unique_ignores_case() -> None:
    with pytest.raises(Conflict):
        check_unique(["Launcher"], {"launcher": "x"})


def test_spec_clash_from_sanitising() -> None:
    """`v1.2` and `v1_2` map to one label: the clash is caught before deploying."""
    held = render(DEFAULT_PATTERN, project="web", stage="rel", tag="v1.2")
    wanted = render(DEFAULT_PATTERN, project="web", stage="rel", tag="v1_2")
    with pytest.raises(Conflict, match=r"web/rel v1\.2"):
        check_unique([wanted], {held: "web/rel v1.2"})
