"""Process settings from the environment and the encryption key.

The variable names are a public contract: deployments and scripts set them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.origins import parse_origin
from services.errors import ConfigError
from services.secrets import generate_key_hex, parse_key

log = logging.getLogger(__name__)

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
KEY_FILE_NAME = "encryption.key"


class Settings(BaseSettings):
    """Everything the process reads from its environment; the rest lives in the database."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=True, extra="ignore")

    encryption_key: str | None = Field(default=None, alias="ENCRYPTION_KEY", repr=False)
    admin_password: str | None = Field(default=None, alias="ADMIN_PASSWORD", repr=False)
    data_dir: Path = Field(default=Path("./data"), alias="DW_DATA_DIR")
    seed_path: Path = Field(default=Path("seed.yaml"), alias="DW_SEED_PATH")
    host: str = Field(default="127.0.0.1", alias="DW_HOST")  # the Dockerfile sets 0.0.0.0
    port: int = Field(default=8080, alias="DW_PORT", ge=1, le=65535)
    log_level: LogLevel = Field(default="info", alias="DW_LOG_LEVEL")
    docker_host: str | None = Field(default=None, alias="DOCKER_HOST")
    # True when this process runs as a container on the shared network (the Docker image sets
    # it): containers are then reached by name; otherwise by their address on that network.
    in_network: bool = Field(default=False, alias="DW_IN_NETWORK")
    drain_seconds: float = Field(default=3.0, alias="DW_DRAIN_SECONDS", ge=0, le=300)
    # SIGTERM: running deploys get this long to finish before they are stopped and undone.
    stop_timeout: float = Field(default=120.0, alias="DW_STOP_TIMEOUT", ge=1, le=3600)
    # The dashboard's origin as browsers see it (`https://watcher.example.com`). Unset: each
    # request's own Host and scheme, with a trusted proxy's forwarded headers (app/forwarded.py).
    public_url: str | None = Field(default=None, alias="DW_PUBLIC_URL")
    # Peers whose X-Forwarded-* headers are believed (addresses, CIDRs or `*`), uvicorn's syntax;
    # read by uvicorn too, and a warning is logged when it trusts more than single addresses.
    forwarded_allow_ips: str = Field(default="127.0.0.1,::1", alias="FORWARDED_ALLOW_IPS")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("public_url", mode="after")
    @classmethod
    def _origin_only(cls, value: str | None) -> str | None:
        """`scheme://host[:port]`: an origin, so a path or a typo cannot silently never match."""
        if not value:
            return None
        origin = parse_origin(value.strip().removesuffix("/"))
        if origin is None or not value.isascii():
            raise ValueError("must be like https://watcher.example.com (scheme, host, port only)")
        return str(origin)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "watcher.db"

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE_NAME

    @property
    def volume_root(self) -> Path:
        """Where isolated volumes go, and the one allowed root while none is configured."""
        return self.data_dir / "volumes"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings, turning pydantic's errors into one ConfigError that names the variable."""
    source = dict(os.environ if environ is None else environ)
    try:
        return Settings.model_validate(source)
    except ValidationError as exc:
        problems = "; ".join(
            f"{err['loc'][0] if err['loc'] else '?'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid environment: {problems}") from None


def wide_proxy_trust(forwarded_allow_ips: str) -> list[str]:
    """The FORWARDED_ALLOW_IPS entries that trust more than one address (`*`, a subnet).

    Whoever connects from a trusted address chooses the client address the app sees (sign-in
    throttling, the webhook's rate limit) and whether the request counts as HTTPS. On the
    shared network every deployed container connects from that network's subnet, so only the
    proxy's own address may be trusted.
    """
    wide = []
    for entry in (part.strip() for part in forwarded_allow_ips.split(",")):
        try:
            too_many = entry == "*" or ipaddress.ip_network(entry, strict=False).num_addresses > 1
        except ValueError:  # not an address (uvicorn also takes unix socket paths)
            too_many = False
        if too_many:
            wide.append(entry)
    return wide


def warn_about_proxy_trust(settings: Settings) -> None:
    """Log a warning at start-up when FORWARDED_ALLOW_IPS trusts a whole network."""
    wide = wide_proxy_trust(settings.forwarded_allow_ips)
    if wide:
        log.warning(
            "FORWARDED_ALLOW_IPS trusts %s: anything connecting from there (any container on "
            "that network) can claim any client address with X-Forwarded-For; trust only the "
            "proxy's own address",
            ", ".join(wide),
        )


def resolve_encryption_key(settings: Settings) -> bytes:
    """Use ENCRYPTION_KEY, or the key kept in the data directory, or make and keep a new one.

    A generated key is written with mode 0600; losing it makes every stored secret unreadable,
    which the log line says.
    """
    if settings.encryption_key:
        return parse_key(settings.encryption_key)
    key_file = settings.key_file
    if key_file.exists():
        return parse_key(key_file.read_text(encoding="ascii"))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fresh = generate_key_hex()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(fresh + "\n")
    log.warning(
        "ENCRYPTION_KEY not set: generated a new key and kept it in %s; back it up, "
        "without it the stored credentials cannot be read",
        key_file,
    )
    return parse_key(fresh)
