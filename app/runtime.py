"""Builds every long-lived object once (settings → database → stores → clients → services)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

import bcrypt
import httpx

from app.admin_wiring import AdminServices, build_admin
from app.config import Settings, resolve_encryption_key
from app.detection_wiring import DetectionServices, build_detection
from app.logs import configure_logging
from app.services_wiring import DomainServices, WiringInputs, build_services
from services.admin.config_database import ConfigStore
from services.auth.sessions import AuthService
from services.docker_engine import DockerEngine
from services.errors import ConfigError
from services.redaction import Redactor
from services.secrets import SecretBox, derive_subkey
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.seen_tags import SeenTagStore
from services.store.sessions import SessionLedger
from services.store.settings_store import SettingsStore
from services.store.users import UserStore
from services.views.system_status import SystemStatus

log = logging.getLogger(__name__)
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (and bcrypt 5 refuses) anything longer


@dataclass
class Stores:
    settings: SettingsStore
    registries: RegistryStore
    projects: ProjectStore
    instances: InstanceStore
    deploys: DeployStore
    users: UserStore
    config: ConfigStore


@dataclass
class Runtime:
    """Everything routes and pages need, handed to them explicitly (no module globals)."""

    settings: Settings
    redactor: Redactor
    box: SecretBox
    db: Database
    stores: Stores
    engine: DockerEngine
    status: SystemStatus
    session_secret: str
    http: httpx.AsyncClient
    probe_http: httpx.AsyncClient
    services: DomainServices
    auth: AuthService
    detection: DetectionServices
    admin: AdminServices
    extras: dict[str, object] = field(default_factory=dict)

    async def aclose(self) -> None:
        """Release clients and the database (after deploys and background loops stopped)."""
        await self.services.notifier.aclose()
        await self.http.aclose()
        await self.probe_http.aclose()
        await self.engine.close()
        self.db.close()


def build_runtime(settings: Settings, redactor: Redactor | None = None) -> Runtime:
    """Open the database (migrated), the stores and the adapters; import the seed once."""
    redactor = redactor or Redactor()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # database, key and session secrets: owner only
    redactor.register(settings.admin_password, settings.encryption_key)
    key = resolve_encryption_key(settings)
    box = SecretBox(key, on_reveal=redactor.register)
    db = Database(settings.database_path)
    db.migrate()
    stores = Stores(
        settings=SettingsStore(db, box),
        registries=RegistryStore(db, box),
        projects=ProjectStore(db, box),
        instances=InstanceStore(db),
        deploys=DeployStore(db),
        users=UserStore(db),
        config=ConfigStore(db, box),
    )
    engine = DockerEngine(base_url=settings.docker_host)
    session_secret = derive_subkey(key, "nicegui-storage").hex()
    status = SystemStatus(engine, db)
    http = httpx.AsyncClient(timeout=httpx.Timeout(15.0))
    probe_http = httpx.AsyncClient(trust_env=False)  # container probes never go through a proxy
    inputs = WiringInputs(
        stores.projects,
        stores.instances,
        stores.deploys,
        stores.registries,
        stores.settings,
        engine,
        http,
        settings.data_dir,
        in_network=settings.in_network,
        drain_seconds=settings.drain_seconds,
        probe_http=probe_http,
    )
    services = build_services(inputs)
    return Runtime(
        settings,
        redactor,
        box,
        db,
        stores,
        engine,
        status,
        session_secret,
        http,
        probe_http,
        services,
        AuthService(stores.users, derive_subkey(key, "jwt"), records=SessionLedger(db)),
        detection=build_detection(inputs, services, SeenTagStore(db)),
        admin=build_admin(stores, services, http, settings.data_dir),
    )


def first_launch(runtime: Runtime) -> None:
    """Import the seed file (first launch only) and make sure an administrator exists."""
    seed = runtime.settings.seed_path
    if runtime.stores.config.seed_on_first_launch(seed):
        log.info("imported seed file %s", seed)
    ensure_admin(runtime.stores.users, runtime.settings.admin_password, runtime.redactor)
    runtime.auth.restore()  # sign-outs and password changes from before the restart


def ensure_admin(users: UserStore, admin_password: str | None, redactor: Redactor) -> None:
    """Create the first admin from ADMIN_PASSWORD, or with a random password logged once."""
    if users.count() > 0:
        return
    password = admin_password or secrets.token_urlsafe(18)
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise ConfigError(f"ADMIN_PASSWORD is too long: at most {BCRYPT_MAX_BYTES} bytes")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    users.create(username="admin", password_hash=hashed, is_admin=True)
    if admin_password:
        log.info("created the administrator 'admin' with the password from ADMIN_PASSWORD")
        return
    # Printed once on purpose: this is the only way the operator learns it. Not via the logger,
    # whose redaction would (rightly) mask it.
    print(
        f"Docker Watcher: created user 'admin' with generated password: {password}\n"
        "Change it after signing in, or set ADMIN_PASSWORD before the first start.",
        flush=True,
    )
    redactor.register(password)


def setup_logging(settings: Settings, redactor: Redactor) -> None:
    configure_logging(settings.log_level, redactor)
