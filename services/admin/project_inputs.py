"""What a person may type for a project and a stage (the configuration form and the REST API).

Types, limits and defaults are `services.fields`' (shared with the seed format and the
database); rules that need the database (registry exists, promote_from names a stage, subdomain
free) are the admin service's. An empty text field means "not set" for the optional ones.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from services.admin.inputs import InputModel
from services.field_checks import none_if_blank
from services.fields import (
    PROJECT_DEFAULTS,
    STAGE_DEFAULTS,
    CertificateId,
    HealthPath,
    HealthRetries,
    HealthSeconds,
    ImageName,
    MaxInstances,
    Port,
    ProjectName,
    RowId,
    StageName,
    StageSubdomain,
    Strategy,
    TagPattern,
)


class ProjectInput(InputModel):
    """A project's own settings (env, volumes and stages have their own forms)."""

    name: ProjectName = Field(description="DNS-safe slug, e.g. web-app")
    registry_id: RowId | None = Field(None, description="registry to pull from")
    image: ImageName = Field(description="repository without tag, e.g. ghcr.io/owner/app")
    port: Port = Field(PROJECT_DEFAULTS.port, description="the port the container listens on")
    healthcheck: Annotated[HealthPath | None, BeforeValidator(none_if_blank)] = Field(
        PROJECT_DEFAULTS.healthcheck,
        description="HTTP path probed until healthy, e.g. /health; none: Docker's own",
    )
    healthcheck_retries: HealthRetries = PROJECT_DEFAULTS.healthcheck_retries
    healthcheck_interval: HealthSeconds = Field(
        PROJECT_DEFAULTS.healthcheck_interval, description="seconds"
    )
    healthcheck_timeout: HealthSeconds = Field(
        PROJECT_DEFAULTS.healthcheck_timeout, description="seconds"
    )


class StageInput(InputModel):
    """One stage of a project: which tags it takes and how it deploys them."""

    name: StageName = Field(description="DNS-safe slug, e.g. dev")
    tag_pattern: TagPattern = Field(
        STAGE_DEFAULTS.tag_pattern, description="shell glob such as dev-* or v*"
    )
    auto_deploy: bool = STAGE_DEFAULTS.auto_deploy
    max_instances: MaxInstances = STAGE_DEFAULTS.max_instances
    confirm: bool = Field(STAGE_DEFAULTS.confirm, description="a person confirms every deploy")
    promote_from: Annotated[StageName | None, BeforeValidator(none_if_blank)] = Field(
        STAGE_DEFAULTS.promote_from,
        description="deploy only tags running healthy in this other stage",
    )
    subdomain: Annotated[StageSubdomain | None, BeforeValidator(none_if_blank)] = Field(
        STAGE_DEFAULTS.subdomain,
        description="custom subdomain label (e.g. launcher) instead of the pattern",
    )
    strategy: Strategy = Field(
        STAGE_DEFAULTS.strategy,
        description="blue_green: start the new instance beside the old one and switch once it "
        "is healthy; stop_first: stop the instances it replaces first (never two at once)",
    )
    certificate_id: CertificateId | None = Field(
        STAGE_DEFAULTS.certificate_id,
        description="NPM certificate for this stage's hosts; null: the settings' certificate, "
        "else a valid one covering the name (exact, then wildcard)",
    )
