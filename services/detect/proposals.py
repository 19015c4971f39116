"""What a new project made from an image looks like (quick deploy and webhook auto-creation).

Pure functions over an inspected image, so the defaults are easy to test and to explain:
- name: the repository's last component made DNS-safe (`ghcr.io/me/Web_App` → `web-app`); when
  taken, `-2`, `-3`... is appended and `name_clash` says so;
- port: the first port the image EXPOSEs, else 80;
- health check: no HTTP path; the deploy then waits for the image's Docker HEALTHCHECK when it has
  one, else for the container to keep running (`health_mode` tells which);
- stage by tag: a tag matching `v*` goes to `rel` (pattern `v*`, manual), any other to `dev`
  (auto-deploy) whose pattern keeps the tag's prefix up to its first `-`, `_` or `.`
  (`dev-12` → `dev-*`, `main.abc` → `main.*`), or the tag itself (`latest`); both with
  PROPOSED_MAX_INSTANCES (2) rather than a stage's default of 1, so a new tag starts beside the
  running one instead of replacing it;
- OCI labels title, description and url are shown in the proposal (the project keeps none);
- env (key, value, secret) and a custom stage subdomain are empty until the person adds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services import env_rules, fields, naming, subdomains, tags
from services.errors import FieldError, ValidationFailed
from services.field_checks import field_error
from services.imageref import ImageRef
from services.store.models import GlobalSettings, Project, Stage
from services.types import ImageInfo

LABEL_TITLE = "org.opencontainers.image.title"
LABEL_DESCRIPTION = "org.opencontainers.image.description"
LABEL_URL = "org.opencontainers.image.url"
DEFAULT_PORT = fields.PROJECT_DEFAULTS.port  # when the image EXPOSEs nothing
PROPOSED_MAX_INSTANCES = 2  # a proposal, shown and editable; not the field's default
NAME_MAX = 40  # leaves room in `stage-{stage}-{project}-{tag}` before labels get hashed
_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9]*[-_.])")


@dataclass(frozen=True)
class StagePlan:
    name: str
    tag_pattern: str
    auto_deploy: bool
    max_instances: int = fields.STAGE_DEFAULTS.max_instances
    subdomain: str | None = (
        None  # a custom stage subdomain (e.g. `launcher`) instead of the pattern
    )


@dataclass(frozen=True)
class Proposal:
    """A prefilled project; the UI edits it (dataclasses.replace) before `accept`."""

    image: str  # the repository without tag, e.g. `ghcr.io/owner/app`
    tag: str
    name: str
    port: int
    stage: StagePlan
    healthcheck: str | None = None  # an HTTP path, or None (Docker HEALTHCHECK, else running)
    health_mode: str = "running"  # http | docker | running
    registry_id: int | None = None
    digest: str | None = None
    title: str | None = None
    description: str | None = None
    url: str | None = None
    subdomain: str | None = None  # the stage's default FQDN (None without a domain)
    tag_subdomain: str | None = None
    name_clash: str | None = None
    subdomain_clash: str | None = None
    existing_project_id: int | None = None  # a project already deploying this image
    env: tuple[tuple[str, str, bool], ...] = ()  # (key, value, secret) for the whole project

    @property
    def reference(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class Context:
    """What the installation already holds, for names and subdomains."""

    taken_names: set[str]
    existing_project_id: int | None
    settings: GlobalSettings
    subdomain_owners: dict[str, int]


def build(ref: ImageRef, info: ImageInfo, registry_id: int | None, context: Context) -> Proposal:
    """The proposal for an inspected image (see the module docstring for every default)."""
    tag = ref.require_tag(field="reference")
    name, clash = project_name(ref, context.taken_names)
    stage = stage_for_tag(tag)
    draft = Proposal(
        image=ref.name,
        tag=tag,
        name=name,
        port=info.exposed_ports[0] if info.exposed_ports else DEFAULT_PORT,
        stage=stage,
        health_mode="docker" if info.has_healthcheck else "running",
        registry_id=registry_id,
        digest=info.digest,
        title=info.labels.get(LABEL_TITLE),
        description=info.labels.get(LABEL_DESCRIPTION),
        url=info.labels.get(LABEL_URL),
        name_clash=clash,
        existing_project_id=context.existing_project_id,
    )
    return with_subdomains(draft, context)


def reviewed(proposal: Proposal, context: Context) -> Proposal:
    """The clash warnings and the address preview again, for a proposal a person has edited."""
    taken = proposal.name in context.taken_names
    clash = f"a project named {proposal.name!r} already exists" if taken else None
    fresh = replace(
        proposal, name_clash=clash, subdomain=None, tag_subdomain=None, subdomain_clash=None
    )
    return with_subdomains(fresh, context)


def project_name(ref: ImageRef, taken: set[str]) -> tuple[str, str | None]:
    """A free DNS-safe name from the repository's last component, and why it differs if so."""
    last = ref.repository.rsplit("/", 1)[-1]
    base = subdomains.sanitize_label(last, field="name")[:NAME_MAX].strip("-")
    if base not in taken:
        return base, None
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}", f"a project named {base!r} already exists"


def stage_for_tag(tag: str) -> StagePlan:
    if tags.matches("v*", tag):
        return StagePlan("rel", "v*", auto_deploy=False, max_instances=PROPOSED_MAX_INSTANCES)
    prefix = _PREFIX.match(tag)
    pattern = f"{prefix.group(1)}*" if prefix else tag
    return StagePlan("dev", pattern, auto_deploy=True, max_instances=PROPOSED_MAX_INSTANCES)


def with_subdomains(proposal: Proposal, context: Context) -> Proposal:
    """Fill the subdomain preview and flag names other instances already hold."""
    project = Project(name=proposal.name, image=proposal.image)
    plan = proposal.stage
    stage = Stage(
        project_id=0, name=plan.name, tag_pattern=plan.tag_pattern, subdomain=plan.subdomain
    )
    try:
        default = naming.default_fqdn(context.settings, project, stage)
        own = naming.tag_fqdn(context.settings, project, stage, proposal.tag)
    except ValidationFailed:
        return proposal  # no domain configured yet: nothing to preview
    held = [d for d in (default, own) if d in context.subdomain_owners]
    clash = f"{', '.join(held)} already used by another instance" if held else None
    return replace(proposal, subdomain=default, tag_subdomain=own, subdomain_clash=clash)


def validate(proposal: Proposal) -> None:
    """Check a reviewed proposal before anything is created; every problem names its field.

    The fields' own types (`services.fields`), as the project and stage forms apply them.
    """
    plan = proposal.stage
    pattern = _problems("stage.tag_pattern", fields.TagPattern, plan.tag_pattern)
    if not pattern and not tags.matches(plan.tag_pattern, proposal.tag):
        pattern = [FieldError("stage.tag_pattern", f"does not match tag {proposal.tag!r}")]
    problems = [
        *_problems("name", fields.ProjectName, proposal.name),
        *_problems("port", fields.Port, proposal.port),
        *_problems("healthcheck", fields.HealthPath | None, proposal.healthcheck),
        *_problems("stage.name", fields.StageName, plan.name),
        *pattern,
        *_problems("stage.max_instances", fields.MaxInstances, plan.max_instances),
    ]
    problems += _problems("stage.subdomain", fields.StageSubdomain | None, plan.subdomain)
    problems.extend(env_problems(proposal.env))
    if problems:
        raise ValidationFailed(problems)


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _problems(path: str, kind: Any, value: object) -> list[FieldError]:
    """What is wrong with `value` as a `kind` (a field type), each error named `path`."""
    try:
        _adapter(kind).validate_python(value, strict=True)
    except ValidationError as exc:
        return [replace(field_error(err), path=path) for err in exc.errors()[:1]]
    return []


def env_problems(env: Iterable[tuple[str, str, bool]]) -> list[FieldError]:
    """The same rules as the project's env editor, each naming `env.<KEY>`."""
    problems: list[FieldError] = []
    seen: set[str] = set()
    for key, value, _ in env:
        path = env_rules.key_path("env", key)
        problem = env_rules.key_problem(key) or env_rules.value_problem(value)
        if key in seen:
            problem = "is given twice"
        if problem:
            problems.append(FieldError(path, problem))
        seen.add(key)
    return problems


def project_fields(proposal: Proposal) -> dict[str, Any]:
    return {
        "name": proposal.name,
        "registry_id": proposal.registry_id,
        "image": proposal.image,
        "port": proposal.port,
        "healthcheck": proposal.healthcheck,
    }


def stage_fields(proposal: Proposal) -> dict[str, Any]:
    plan = proposal.stage
    return {
        "name": plan.name,
        "tag_pattern": plan.tag_pattern,
        "auto_deploy": plan.auto_deploy,
        "max_instances": plan.max_instances,
        "subdomain": plan.subdomain,
    }
