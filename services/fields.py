"""Every setting's type, limits and default, defined once.

The seed format (`services.admin.seed_format`), the admin input models that the forms and
the REST API validate with (`services.admin.project_inputs`, `settings_admin`,
`registry_admin`), the quick deploy API and proposals, the forms' number limits and the
database columns' Python-side defaults (`services.store.models`) all take them from here, so a
value one of them accepts the others accept too, and a setting left out means the same
everywhere.
`tests/unit/test_field_definitions.py` compares them all.

Types are pydantic `Annotated` types: the limits (ge/le, lengths) and the checks
(`services.field_checks`) travel with the type, and so do the OpenAPI schema's pattern hints
(`Documented`). Defaults live in the frozen `*_DEFAULTS` records below, because pydantic takes a
default on the field, not inside the type: each model writes `= STAGE_DEFAULTS.max_instances`.
Where two places disagreed before, the record's docstring says which value won and why.
The secrets' lengths (NpmPassword, RegistryToken) hold for what a person types only: a seed
carries secrets as `v1:` ciphertext, which is longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from services import field_checks as check
from services import subdomains, tags, volume_rules

MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger id can only be "not found", never a crash
SLUG = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
LABEL = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"

TEXT_MAX = 255  # a one-line text setting (domain, e-mail, username, image, health check path)
URL_MAX = 2048
PATH_MAX = 1024  # a host folder
PROJECT_NAME_MAX = 63  # one DNS label
STAGE_NAME_MAX = 32  # leaves room for the project and tag in `stage-{stage}-{project}-{tag}`
PORT_MIN, PORT_MAX = 1, 65535
HEALTHCHECK_RETRIES_MIN, HEALTHCHECK_RETRIES_MAX = 1, 100
HEALTHCHECK_SECONDS_MAX = 3600  # interval and timeout: more than 0, at most an hour
TAG_PATTERN_MAX = tags.MAX_PATTERN_CHARS
MAX_INSTANCES_MIN, MAX_INSTANCES_MAX = 1, 100
POLL_INTERVAL_MIN, POLL_INTERVAL_MAX = 10, 7 * 24 * 3600  # seconds: a registry is not hammered
ROLLBACK_KEEP_MIN, ROLLBACK_KEEP_MAX = 1, 50  # images per stage: 1 keeps the running one only
AUDIT_RETENTION_MIN, AUDIT_RETENTION_MAX = 1, 3650  # days of audit rows kept
NOTIFICATION_URLS_MAX = 20
AUTO_CREATE_ALLOW_MAX = 100
VOLUME_ROOTS_MAX = 50
NPM_PASSWORD_MAX = 1024
REGISTRY_TOKEN_MAX = 4096
OIDC_SECRET_MAX = 1024
OIDC_LIST_MAX = 200  # allowed users, groups, email domains
OIDC_ROLE_MAP_MAX = 100


@dataclass(frozen=True)
class Documented:
    """JSON-schema keywords for the OpenAPI schema only: the rule itself is a check whose
    message is friendlier than pydantic's "should match pattern" (use inside `Annotated`)."""

    pattern: str | None = None
    max_length: int | None = None
    min_length: int | None = None

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        shown = handler(schema)
        extra = {
            "pattern": self.pattern,
            "maxLength": self.max_length,
            "minLength": self.min_length,
        }
        shown.update({key: value for key, value in extra.items() if value is not None})
        return shown


Text = Annotated[str, StringConstraints(max_length=TEXT_MAX)]  # one line, checks come after
LongText = Annotated[str, StringConstraints(max_length=URL_MAX)]  # a URL


# --- project ----------------------------------------------------------------------------------

ProjectName = Annotated[
    str, AfterValidator(check.slug(PROJECT_NAME_MAX)), Documented(SLUG, PROJECT_NAME_MAX)
]
ImageName = Annotated[
    Text,
    AfterValidator(check.image_name),
    Documented(r"^[^:@\s]+(:[0-9]+/[^:@\s]+)?$", min_length=1),
]
Port = Annotated[int, Field(ge=PORT_MIN, le=PORT_MAX)]
HealthPath = Annotated[Text, AfterValidator(check.url_path), Documented(r"^/\S*$")]
HealthRetries = Annotated[int, Field(ge=HEALTHCHECK_RETRIES_MIN, le=HEALTHCHECK_RETRIES_MAX)]
HealthSeconds = Annotated[float, Field(gt=0, le=HEALTHCHECK_SECONDS_MAX)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


@dataclass(frozen=True)
class ProjectDefaults:
    """A project's settings when not given.

    The health-check timing (3 probes, 5 s apart, 10 s each) is also `HealthPolicy`'s default:
    it was written in four places, all with these values.
    """

    port: int = 80  # the port most web images listen on; quick deploy proposes EXPOSE instead
    healthcheck: str | None = None  # no path: Docker's own HEALTHCHECK, else "keeps running"
    healthcheck_retries: int = 3
    healthcheck_interval: float = 5.0
    healthcheck_timeout: float = 10.0


PROJECT_DEFAULTS = ProjectDefaults()

# --- stage ------------------------------------------------------------------------------------

StageName = Annotated[
    str, AfterValidator(check.slug(STAGE_NAME_MAX)), Documented(SLUG, STAGE_NAME_MAX)
]
TagPattern = Annotated[  # its length is part of tags' rule (and of its message)
    str,
    AfterValidator(check.tag_pattern),
    Documented(r"^[A-Za-z0-9_.*?\[\]!-]+$", max_length=TAG_PATTERN_MAX),
]
MaxInstances = Annotated[int, Field(ge=MAX_INSTANCES_MIN, le=MAX_INSTANCES_MAX)]
StageSubdomain = Annotated[str, AfterValidator(check.subdomain_label), Documented(LABEL)]
Strategy = Literal["blue_green", "stop_first"]
# What each strategy does, in the words the stage form's tooltip and the deploy log use.
STRATEGY_EXPLAINED: dict[str, str] = {
    "blue_green": (
        "start the new instance beside the old one, move the domains once it is healthy, "
        "let in-flight requests drain, then remove the old one (no downtime)"
    ),
    "stop_first": (
        "stop the instances the new one replaces, then start it: the two never run together "
        "(for data only one process may open, such as SQLite); a new one that fails to start "
        "or to become healthy is removed and the old one is started again with its domains "
        "(a short outage while it swaps)"
    ),
}


@dataclass(frozen=True)
class StageDefaults:
    """A stage's settings when not given.

    `max_instances` is 1: the database column's default, what every stage made by the form,
    the API or a seed got (blue-green replacement). The quick-deploy API alone defaulted to 2;
    a quick deploy still proposes 2 (`proposals.PROPOSED_MAX_INSTANCES`), shown in the form and
    in the inspect answer, so only a request leaving the field out gets 1 now. The upper limit
    (100) the form and API had now holds for seeds and quick-deploy proposals too.
    `certificate_id` names an NPM certificate for the stage's new hosts; None falls back to the
    NPM settings' certificate, then to a valid one NPM holds for each name (exact, then wildcard).
    A custom `subdomain` is one DNS label everywhere (a seed accepted dotted names, which no
    deploy could route: a wildcard record covers one level).
    `strategy` replaced a `blue_green` switch that no deploy ever read: every deploy was
    blue-green, so that stays the default (`STRATEGY_EXPLAINED` says what each one does).
    """

    tag_pattern: str = "*"
    auto_deploy: bool = False
    max_instances: int = 1
    confirm: bool = False
    promote_from: str | None = None
    subdomain: str | None = None
    strategy: Strategy = "blue_green"
    certificate_id: int | None = None  # None: the settings' choice, else automatic


STAGE_DEFAULTS = StageDefaults()

# --- global settings --------------------------------------------------------------------------

Domain = Annotated[Text, AfterValidator(check.hostname)]
ServerIp = Annotated[Text, AfterValidator(check.ip_address)]
NetworkName = Annotated[
    str,
    AfterValidator(check.network_name),
    Documented(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64),
]
SubdomainPattern = Annotated[Text, AfterValidator(check.subdomain_pattern)]
NotificationUrl = Annotated[LongText, AfterValidator(check.notification_url)]
NotificationUrls = Annotated[list[NotificationUrl], Field(max_length=NOTIFICATION_URLS_MAX)]
# The settings form and API get saved URLs masked and may send a mask back to keep that URL.
NotificationUrlOrMask = Annotated[LongText, AfterValidator(check.notification_url_or_mask)]
NotificationUrlsOrMasks = Annotated[
    list[NotificationUrlOrMask], Field(max_length=NOTIFICATION_URLS_MAX)
]
# A seed may hold a URL's `v1:` ciphertext (an export with encrypted secrets).
SealedNotificationUrl = Annotated[LongText, AfterValidator(check.sealed_or_notification_url)]
SealedNotificationUrls = Annotated[
    list[SealedNotificationUrl], Field(max_length=NOTIFICATION_URLS_MAX)
]
PollInterval = Annotated[int, Field(ge=POLL_INTERVAL_MIN, le=POLL_INTERVAL_MAX)]
RollbackKeep = Annotated[int, Field(ge=ROLLBACK_KEEP_MIN, le=ROLLBACK_KEEP_MAX)]
AuditRetention = Annotated[int, Field(ge=AUDIT_RETENTION_MIN, le=AUDIT_RETENTION_MAX)]
AutoCreateGlob = Annotated[Text, AfterValidator(check.not_blank)]
AutoCreateAllow = Annotated[list[AutoCreateGlob], Field(max_length=AUTO_CREATE_ALLOW_MAX)]
VolumeRoot = Annotated[
    str,
    StringConstraints(max_length=PATH_MAX),
    AfterValidator(check.from_rule(lambda v: volume_rules.check_host_path(v, ""))),
]
VolumeRoots = Annotated[list[VolumeRoot], Field(max_length=VOLUME_ROOTS_MAX)]
NamedVolumeGlob = Annotated[Text, AfterValidator(check.volume_glob)]
NamedVolumes = Annotated[list[NamedVolumeGlob], Field(max_length=VOLUME_ROOTS_MAX)]


@dataclass(frozen=True)
class GlobalDefaults:
    """The installation's settings before anyone sets them (lists start empty).

    The seed used to accept any number of notification URLs, any length of text and the looser
    URL check of NPM's address; it now has the settings page's limits and the notifier's URL
    rule, so whatever a seed imports can be edited and saved again, and is posted to.
    """

    domain: str = ""
    server_ip: str = ""
    network: str = "docker-watcher"
    subdomain_pattern: str = subdomains.DEFAULT_PATTERN
    poll_interval: int = 300
    rollback_keep: int = 3  # successful digests per stage whose images image clean-up keeps
    audit_retention_days: int = 365  # audit rows older than this are purged


GLOBAL_DEFAULTS = GlobalDefaults()

# --- Nginx Proxy Manager ----------------------------------------------------------------------

NpmUrl = Annotated[LongText, AfterValidator(check.http_url), Documented(r"^(https?://\S+)?$")]
Email = Annotated[Text, AfterValidator(check.email)]
NpmPassword = Annotated[str, StringConstraints(max_length=NPM_PASSWORD_MAX)]
CertificateId = RowId


@dataclass(frozen=True)
class NpmDefaults:
    """No NPM until its address is given: deploys then make no proxy hosts."""

    url: str = ""
    email: str = ""
    certificate_id: int | None = None
    ssl_forced: bool = False


NPM_DEFAULTS = NpmDefaults()

# --- registries -------------------------------------------------------------------------------

RegistryName = Annotated[
    str,
    AfterValidator(check.registry_name),
    Documented(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63),
]
RegistryUrl = Annotated[
    LongText,
    AfterValidator(check.not_blank),
    AfterValidator(check.http_url),
    Documented(r"^https?://\S+$"),
]
RegistryKind = Literal["gitea", "github", "dockerhub", "generic"]
Username = Text
RegistryToken = Annotated[str, StringConstraints(max_length=REGISTRY_TOKEN_MAX)]


@dataclass(frozen=True)
class RegistryDefaults:
    """A registry of unknown kind speaks the plain Docker Registry API ("generic")."""

    type: RegistryKind = "generic"
    username: str = ""


REGISTRY_DEFAULTS = RegistryDefaults()

# --- sign-in ----------------------------------------------------------------------------------

SignInMode = Literal["local", "oidc", "both"]
RoleName = Literal["admin", "deployer", "viewer"]  # `services.store.models.Role`'s values
DefaultRole = Literal["", "admin", "deployer", "viewer"]  # "": no group matched -> refused
OidcDisplayName = Annotated[Text, AfterValidator(check.not_blank)]
OidcDiscoveryUrl = Annotated[
    LongText, AfterValidator(check.http_url), Documented(r"^(https?://\S+)?$")
]
OidcClientId = Annotated[Text, AfterValidator(check.no_spaces)]
OidcClientSecret = Annotated[str, StringConstraints(max_length=OIDC_SECRET_MAX)]
OidcScopes = Annotated[Text, AfterValidator(check.oidc_scopes)]
ClaimName = Annotated[Text, AfterValidator(check.not_blank), AfterValidator(check.no_spaces)]
AllowedName = Annotated[Text, AfterValidator(check.not_blank)]  # a username, email or group
AllowedNames = Annotated[list[AllowedName], Field(max_length=OIDC_LIST_MAX)]
EmailDomain = Annotated[Text, AfterValidator(check.email_domain)]
EmailDomains = Annotated[list[EmailDomain], Field(max_length=OIDC_LIST_MAX)]
RoleMap = Annotated[dict[AllowedName, RoleName], Field(max_length=OIDC_ROLE_MAP_MAX)]


@dataclass(frozen=True)
class AuthDefaults:
    """Local accounts until single sign-on is set up."""

    mode: SignInMode = "local"
    oidc_scopes: str = "openid email profile"
    oidc_display_name: str = "OIDC"
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    oidc_default_role: DefaultRole = ""  # no group matched: refused
    require_verified_email: bool = True  # for people allowed by their email's domain


AUTH_DEFAULTS = AuthDefaults()
