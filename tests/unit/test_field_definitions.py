"""Every setting means the same in the seed format, the REST API, the input models and the database.

For each setting this reads what every place that defines it says (the seed format as parsed,
the admin input models, the REST API's OpenAPI schema, the database column's default, and the
deploy's own defaults where it has them) and fails when two disagree on a default or a limit,
naming who says what. They all take their definition from `services.fields`; this test is what
keeps a later change from writing its own number in one of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, cast

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlmodel import SQLModel

from app.api import (
    auth_settings_routes,
    deploy_routes,
    projects_routes,
    registries_routes,
    settings_routes,
)
from services.admin.auth_settings_admin import AuthSettingsInput
from services.admin.document_writer import OIDC_COLUMNS
from services.admin.project_inputs import ProjectInput, StageInput
from services.admin.registry_admin import RegistryInput
from services.admin.seed_format import (
    AuthSeed,
    GlobalSeed,
    NpmSeed,
    OidcSeed,
    ProjectSeed,
    RegistrySeed,
    SeedDocument,
    StageSeed,
    parse_seed,
)
from services.admin.settings_admin import GlobalInput, NpmInput
from services.deploy.health import HealthPolicy
from services.detect import proposals
from services.errors import ValidationFailed
from services.imageref import ImageRef
from services.store.models import (
    AuthSettings,
    GlobalSettings,
    NpmSettings,
    Project,
    Registry,
    Stage,
)
from services.types import ImageInfo

LIMITS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength", "maxItems")
REQUIRED = "<required>"
# The quick-deploy API takes a proposal back as reviewed: these have no default there on purpose.
REQUIRED_IN_API = {
    ("QuickDeployIn", "image"),
    ("QuickDeployIn", "name"),
    ("QuickDeployIn", "port"),
    ("StagePlanIn", "name"),
    ("StagePlanIn", "tag_pattern"),
    ("StagePlanIn", "auto_deploy"),
}


@dataclasses.dataclass(frozen=True)
class Section:
    """Where one group of settings is defined, in each place that defines it."""

    name: str
    seed_text: str  # the smallest seed holding this section
    seed_of: Callable[[SeedDocument], BaseModel]  # the parsed section
    seed_model: type[BaseModel]
    input_model: type[BaseModel]
    api_components: tuple[str, ...]
    table: type[SQLModel]
    others: Mapping[str, object] = dataclasses.field(default_factory=dict)  # more defaults
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)  # where names differ


PROJECT = Section(
    "project",
    "projects: {p: {image: nginx}}",
    lambda doc: doc.projects["p"],
    ProjectSeed,
    ProjectInput,
    ("ProjectInput", "QuickDeployIn"),
    Project,
    {"HealthPolicy": HealthPolicy()},
)
STAGE = Section(
    "stage",
    "projects: {p: {image: nginx, stages: {s: {}}}}",
    lambda doc: doc.projects["p"].stages["s"],
    StageSeed,
    StageInput,
    ("StageInput", "StagePlanIn"),
    Stage,
    {"StagePlan": proposals.StagePlan("s", "*", auto_deploy=False)},
)
GLOBAL = Section(
    "global",
    "global: {}",
    lambda doc: cast(GlobalSeed, doc.global_),
    GlobalSeed,
    GlobalInput,
    ("GlobalInput",),
    GlobalSettings,
)
NPM = Section(
    "npm",
    "npm: {}",
    lambda doc: cast(NpmSeed, doc.npm),
    NpmSeed,
    NpmInput,
    ("NpmInput",),
    NpmSettings,
)
REGISTRY = Section(
    "registry",
    "registries: {r: {url: 'https://r.example'}}",
    lambda doc: doc.registries["r"],
    RegistrySeed,
    RegistryInput,
    ("RegistryInput",),
    Registry,
)
OIDC = Section(
    "auth.oidc",
    "auth: {oidc: {}}",
    lambda doc: cast(AuthSeed, doc.auth).oidc,
    OidcSeed,
    AuthSettingsInput,
    ("AuthSettingsInput",),
    AuthSettings,
    columns=OIDC_COLUMNS,
)
HEALTH = {"healthcheck": "path", "healthcheck_retries": "retries"}
HEALTH |= {"healthcheck_interval": "interval", "healthcheck_timeout": "timeout"}
SEED_KEYS = {"notification_urls": "notification_url"}  # the seed's name, where it differs
SETTINGS = [
    *((PROJECT, name) for name in ("image", "port", *HEALTH)),
    *(
        (STAGE, name)
        for name in (
            "tag_pattern",
            "auto_deploy",
            "max_instances",
            "confirm",
            "promote_from",
            "subdomain",
            "strategy",
        )
    ),
    *(
        (GLOBAL, name)
        for name in (
            "domain",
            "server_ip",
            "network",
            "subdomain_pattern",
            "notification_urls",
            "poll_interval",
            "auto_create_allow",
            "volume_roots",
            "named_volumes",
            "rollback_keep",
            "audit_retention_days",
        )
    ),
    *((NPM, name) for name in ("url", "email", "certificate_id", "ssl_forced")),
    *((REGISTRY, name) for name in ("url", "type", "username")),
    *((OIDC, name) for name in OIDC_COLUMNS),
]


@cache
def openapi() -> dict[str, Any]:
    """The REST API's schema, from the routers that take these settings (no service is called
    while routes are registered, so placeholders stand in for them)."""
    api = FastAPI()
    unused = cast(Any, object())
    projects_routes.register(api, unused, unused, unused)
    settings_routes.register(api, unused)
    registries_routes.register(api, unused)
    deploy_routes.register(api, unused, unused)
    auth_settings_routes.register(api, unused)
    schemas: dict[str, Any] = api.openapi()["components"]["schemas"]
    return schemas


def facts(schema: Mapping[str, Any], name: str) -> dict[str, object]:
    """A property's default and limits as a JSON schema states them (null aside)."""
    prop = schema["properties"][name]
    (shape,) = [part for part in prop.get("anyOf", [prop]) if part.get("type") != "null"]
    found: dict[str, object] = {key: shape.get(key) for key in LIMITS}
    found["itemMaxLength"] = shape.get("items", {}).get("maxLength")
    found["enum"] = shape.get("enum")
    if name in schema.get("required", ()):
        found["default"] = REQUIRED
    else:  # FastAPI leaves a null default out
        found["default"] = prop.get("default")
    return found


def definitions(section: Section, name: str) -> dict[str, dict[str, object]]:
    """What every place says about one setting: {place: {default / limit: value}}."""
    seed_key = SEED_KEYS.get(name, name)
    seed = facts(section.seed_model.model_json_schema(), seed_key)
    parsed = section.seed_of(parse_seed(section.seed_text))
    if seed["default"] != REQUIRED:
        seed["default"] = getattr(parsed, seed_key)  # what parsing gives, not only the schema
    found = {
        f"seed {section.seed_model.__name__}": seed,
        f"input {section.input_model.__name__}": facts(
            section.input_model.model_json_schema(), name
        ),
    }
    for component in section.api_components:
        schema = openapi()[component]
        if name in schema["properties"]:
            found[f"OpenAPI {component}"] = facts(schema, name)
    column_name = section.columns.get(name, name)
    column = section.table.model_fields[column_name].get_default(call_default_factory=True)
    found[f"column {section.table.__name__}"] = {"default": column}
    for place, holder in section.others.items():
        attribute = HEALTH.get(name, name) if place == "HealthPolicy" else name
        if hasattr(holder, attribute):
            found[place] = {"default": getattr(holder, attribute)}
    return found


def disagreements(found: dict[str, dict[str, object]]) -> list[str]:
    problems = []
    for key in ("default", *LIMITS, "itemMaxLength", "enum"):
        said = {place: said[key] for place, said in found.items() if key in said}
        if key == "default":
            said = {place: value for place, value in said.items() if value != REQUIRED}
        if len({repr(_plain(value)) for value in said.values()}) > 1:
            problems.append(f"{key}: {said}")
    return problems


def _plain(value: object) -> object:
    """100 and 100.0, an enum member and its text, are the same statement."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    return str(value) if isinstance(value, str) else value


@pytest.mark.parametrize(("section", "name"), SETTINGS, ids=[f"{s.name}.{n}" for s, n in SETTINGS])
def test_every_place_gives_a_setting_the_same_default_and_limits(
    section: Section, name: str
) -> None:
    found = definitions(section, name)
    assert len(found) >= 4, found  # seed, input model, API, column at least
    assert not disagreements(found), "\n".join(disagreements(found))


def test_only_the_reviewed_quick_deploy_fields_are_required_without_a_default() -> None:
    required = {
        (component, name)
        for section in (PROJECT, STAGE)
        for component in section.api_components
        for name in openapi()[component].get("required", ())
        if component in ("QuickDeployIn", "StagePlanIn")
    }
    assert required == REQUIRED_IN_API | {("QuickDeployIn", "tag"), ("QuickDeployIn", "stage")}


@pytest.mark.parametrize(
    ("section", "key", "limit"),
    [(PROJECT, "projects", 63), (STAGE, "stages", 32), (REGISTRY, "registries", 63)],
)
def test_names_have_one_length_limit(section: Section, key: str, limit: int) -> None:
    holder = SeedDocument if key != "stages" else ProjectSeed
    said = {
        "seed keys": holder.model_json_schema()["properties"][key]["propertyNames"]["maxLength"],
        "input": facts(section.input_model.model_json_schema(), "name")["maxLength"],
        "column": section.table.model_json_schema()["properties"]["name"]["maxLength"],
    }
    for component in section.api_components:
        if "name" in openapi()[component]["properties"]:
            said[component] = facts(openapi()[component], "name")["maxLength"]
    assert set(said.values()) == {limit}, said


NUMBERS = {  # a seed setting the number (%s), the error's path, the input model and its musts
    "port": ("projects: {p: {image: nginx, port: %s}}", "projects.p.port", PROJECT),
    "healthcheck_retries": (
        "projects: {p: {image: nginx, healthcheck_retries: %s}}",
        "projects.p.healthcheck_retries",
        PROJECT,
    ),
    "healthcheck_timeout": (
        "projects: {p: {image: nginx, healthcheck_timeout: %s}}",
        "projects.p.healthcheck_timeout",
        PROJECT,
    ),
    "max_instances": (
        "projects: {p: {image: nginx, stages: {s: {max_instances: %s}}}}",
        "projects.p.stages.s.max_instances",
        STAGE,
    ),
    "poll_interval": ("global: {poll_interval: %s}", "global.poll_interval", GLOBAL),
    "rollback_keep": ("global: {rollback_keep: %s}", "global.rollback_keep", GLOBAL),
    "audit_retention_days": (
        "global: {audit_retention_days: %s}",
        "global.audit_retention_days",
        GLOBAL,
    ),
}
MUSTS = {"project": {"name": "p", "image": "nginx"}, "stage": {"name": "s"}}


def boundaries(said: Mapping[str, object]) -> list[tuple[float, bool]]:
    """Values at and just past the stated limits, and whether each must be accepted."""
    step = 1 if isinstance(said["default"], int) else 0.5
    top = cast(float, said["maximum"])
    values = [(top, True), (top + step, False)]
    if said["minimum"] is not None:
        low = cast(float, said["minimum"])
        values += [(low, True), (low - step, False)]
    if said["exclusiveMinimum"] is not None:
        values.append((cast(float, said["exclusiveMinimum"]), False))
    return [(int(v) if step == 1 else float(v), ok) for v, ok in values]


@pytest.mark.parametrize("name", NUMBERS)
def test_the_seed_and_the_forms_enforce_the_limits_they_state(name: str) -> None:
    template, path, section = NUMBERS[name]
    model = cast(Any, section.input_model)
    for value, accepted in boundaries(facts(model.model_json_schema(), name)):
        seed_errors = _seed_errors(template % value)
        assert (path not in seed_errors) is accepted, (value, seed_errors)
        try:
            model.parse({**MUSTS.get(section.name, {}), name: value})
        except ValidationFailed as exc:
            assert not accepted, (value, exc.errors)
        else:
            assert accepted, value


def _seed_errors(text: str) -> dict[str, str]:
    try:
        parse_seed(text)
    except ValidationFailed as exc:
        return {e.path: e.message for e in exc.errors}
    return {}


@pytest.mark.parametrize(("field", "too_big"), [("port", 65536), ("max_instances", 101)])
def test_a_quick_deploy_proposal_has_the_same_limits(field: str, too_big: int) -> None:
    context = proposals.Context(set(), None, GlobalSettings(), {})
    proposal = proposals.build(
        ImageRef.parse("ghcr.io/me/shop:dev-1"), ImageInfo(id="x"), None, context
    )
    proposals.validate(proposal)
    if field == "port":
        bad = dataclasses.replace(proposal, port=too_big)
        path = "port"
    else:
        bad = dataclasses.replace(
            proposal, stage=dataclasses.replace(proposal.stage, max_instances=too_big)
        )
        path = "stage.max_instances"
    with pytest.raises(ValidationFailed) as caught:
        proposals.validate(bad)
    assert [e.path for e in caught.value.errors] == [path]
