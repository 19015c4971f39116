"""What a person may type for a project and a stage (the configuration form and the REST API).

The rules are the seed format's (`services.admin.seed_format`), plus the custom subdomain's
single-label
rule of `services.subdomains`; rules that need the database (registry exists, promote_from names
a stage, subdomain free) are the admin service's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from services import subdomains, tags
from services.admin.inputs import LABEL, MAX_ID, SLUG, InputModel, documented, none_if_blank
from services.admin.seed_format import ProjectName, StageName
from services.admin.seed_format import TagPattern as _SeedTagPattern
from services.admin.seed_format import _image as _seed_image  # the seed's own checks: one rule set
from services.admin.seed_format import _url_path as _seed_url_path
from services.errors import ValidationFailed

MAX_PATTERN_CHARS = tags.MAX_PATTERN_CHARS
MAX_INSTANCES = 100


def _label(value: str) -> str:
    """A stage's custom subdomain: one DNS label, refused (never rewritten) when invalid."""
    try:
        return subdomains.validate_label(value)
    except ValidationFailed as exc:
        raise PydanticCustomError("seed", exc.errors[0].message) from None


Image = Annotated[str, StringConstraints(max_length=255), AfterValidator(_seed_image)]
UrlPath = Annotated[str, StringConstraints(max_length=255), AfterValidator(_seed_url_path)]
Label = Annotated[str, AfterValidator(_label)]
TagPattern = Annotated[_SeedTagPattern, StringConstraints(max_length=MAX_PATTERN_CHARS)]
TAG_PATTERN_DOC = documented(r"^[A-Za-z0-9_.*?\[\]!-]+$", max_length=MAX_PATTERN_CHARS)


class ProjectInput(InputModel):
    """A project's own settings (env, volumes and stages have their own forms)."""

    name: ProjectName = Field(
        description="DNS-safe slug, e.g. web-app", json_schema_extra=documented(SLUG, max_length=63)
    )
    registry_id: int | None = Field(None, ge=1, le=MAX_ID, description="registry to pull from")
    image: Image = Field(
        description="repository without tag, e.g. ghcr.io/owner/app",
        json_schema_extra=documented(r"^[^:@\s]+(:[0-9]+/[^:@\s]+)?$", min_length=1),
    )
    port: int = Field(80, ge=1, le=65535, description="the port the container listens on")
    healthcheck: Annotated[UrlPath | None, BeforeValidator(none_if_blank)] = Field(
        None,
        description="HTTP path probed until healthy, e.g. /health; none: Docker's own",
        json_schema_extra=documented(r"^(/\S*)?$"),
    )
    healthcheck_retries: int = Field(3, ge=1, le=100)
    healthcheck_interval: float = Field(5.0, gt=0, le=3600, description="seconds")
    healthcheck_timeout: float = Field(10.0, gt=0, le=3600, description="seconds")


class StageInput(InputModel):
    """One stage of a project: which tags it takes and how it deploys them."""

    name: StageName = Field(
        description="DNS-safe slug, e.g. dev", json_schema_extra=documented(SLUG, max_length=32)
    )
    tag_pattern: TagPattern = Field(
        "*", description="shell glob such as dev-* or v*", json_schema_extra=TAG_PATTERN_DOC
    )
    auto_deploy: bool = False
    max_instances: int = Field(1, ge=1, le=MAX_INSTANCES)
    confirm: bool = Field(False, description="a person confirms every deploy")
    promote_from: Annotated[StageName | None, BeforeValidator(none_if_blank)] = Field(
        None,
        description="deploy only tags running healthy in this other stage",
        json_schema_extra=documented(r"^$|" + SLUG, max_length=32),
    )
    subdomain: Annotated[Label | None, BeforeValidator(none_if_blank)] = Field(
        None,
        description="custom subdomain label (e.g. launcher) instead of the pattern",
        json_schema_extra=documented(r"^$|" + LABEL),
    )
    blue_green: bool = Field(False, description="blue-green even with max_instances > 1")
