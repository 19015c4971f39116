"""The composition root: every long-lived object, built once, layer by layer.

settings -> database -> stores -> clients (outside systems) -> services -> page services.
`build_runtime` builds the graph the process serves; `build_pages` adds what the NiceGUI pages
are given (one live board for every open page). Tests call the same two functions over a
temporary data directory and swap a peer through keyword parameters (the proxy source, poller
options, a cheaper password hasher) instead of copying this wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from app.config import Settings, resolve_encryption_key
from app.origins import oidc_redirect_uri
from app.page_sessions import PageSessions
from pages.audit import AuditServices
from pages.components.deps import PageServices
from pages.project_config import ConfigServices
from pages.settings import SettingsServices
from services.admin.auth_settings_admin import AuthSettingsAdmin
from services.admin.config_database import ConfigStore
from services.admin.config_transfer import ConfigTransfer
from services.admin.env_config import EnvConfigService
from services.admin.instance_admin import InstanceAdmin
from services.admin.project_admin import ProjectAdmin
from services.admin.registry_admin import RegistryAdmin
from services.admin.settings_admin import SettingsAdmin
from services.admin.volume_config import VolumeConfigService
from services.audit.log import AuditLog
from services.audit.retention import AuditRetention
from services.auth.oidc_sign_in import OidcSignIn
from services.auth.sessions import AuthService, PasswordHasher
from services.auth.user_admin import UserAdmin
from services.deploy.check import CheckStep
from services.deploy.cleanup import PendingCleanup
from services.deploy.deployer import Deployer
from services.deploy.health import HealthChecker
from services.deploy.image_cleanup import ImageCleanup
from services.deploy.image_fetch import ImageFetcher
from services.deploy.instance_control import InstanceControl
from services.deploy.lost import LostInstances
from services.deploy.plan import PlanStep
from services.deploy.pull import ImageSource, PullStep
from services.deploy.reconciler import Reconciler
from services.deploy.records import DeployRecords
from services.deploy.rollback import Rollbacks
from services.deploy.routing import Router
from services.deploy.start import HealthStep, StartStep
from services.deploy.strategies import StopStep
from services.deploy.switch import RetireStep, RouteStep
from services.detect.auto_create import AutoCreator
from services.detect.intake import Intake, IntakeStores
from services.detect.poll_project import PollerStores
from services.detect.poll_status import PollerOptions
from services.detect.poller import Poller
from services.detect.quick_deploy import QuickDeploy, QuickDeployStores
from services.detect.webhook import WebhookReceiver
from services.docker_engine import DockerEngine
from services.events import EventBus
from services.notify.notifier import Notifier, channels_from_urls
from services.npm.provider import ProxyProvider
from services.npm.proxy import ProxySource
from services.redaction import Redactor
from services.registry.pool import RegistryPool
from services.secrets import SecretBox, derive_subkey
from services.store.audit import AuditStore
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.seen_tags import SeenTagStore
from services.store.sessions import SessionLedger
from services.store.settings_store import SettingsStore
from services.store.users import UserStore
from services.views.audit_log import AuditQueries
from services.views.deploy_history import DeployQueries
from services.views.live_board import LiveBoard
from services.views.overview import Overview
from services.views.system_status import SystemStatus

ImagesPeer = Callable[[ImageFetcher], ImageSource]  # tests: wraps the deploy's image fetcher

HTTP_TIMEOUT = 15.0  # registries, NPM and notification endpoints


@dataclass(frozen=True)
class Stores:
    """One store per aggregate, all over the one database."""

    settings: SettingsStore
    registries: RegistryStore
    projects: ProjectStore
    instances: InstanceStore
    deploys: DeployStore
    seen: SeenTagStore  # tags the webhook and the poller have seen
    users: UserStore
    sessions: SessionLedger  # sign-outs and password-change cut-offs
    config: ConfigStore  # the seed/export document <-> the database
    audit: AuditStore  # who did what (append-only)


@dataclass(frozen=True)
class Clients:
    """One adapter per outside system; closed at shutdown."""

    engine: DockerEngine
    http: httpx.AsyncClient
    # Health probes go to container addresses: trust_env=False, so an HTTP_PROXY in the
    # environment never captures them.
    probe_http: httpx.AsyncClient
    registries: RegistryPool  # one client per registry, shared by deploys and detection
    proxies: ProxySource  # NPM, as configured in the settings
    notifier: Notifier


@dataclass(frozen=True)
class DeployServices:
    """Deploying and keeping instances right: the deployer, the controls, the reconciler."""

    bus: EventBus  # what pages and the API's log streams follow
    router: Router
    health: HealthChecker
    control: InstanceControl
    deployer: Deployer
    cleanup: PendingCleanup  # failed deploys' undo that an outage cut short
    reconciler: Reconciler
    rollbacks: Rollbacks  # "Roll back" on a stage (page and API)
    audit: AuditLog  # who did what; detection and admin services record into it too


@dataclass(frozen=True)
class DetectionServices:
    """Noticing new images: the webhook and the poller feed the intake."""

    quick: QuickDeploy
    intake: Intake
    poller: Poller
    webhook: WebhookReceiver


@dataclass(frozen=True)
class AdminServices:
    """What the REST API and the configuration pages call."""

    project_admin: ProjectAdmin
    registry_admin: RegistryAdmin
    settings_admin: SettingsAdmin
    auth_settings: AuthSettingsAdmin  # sign-in settings (mode, OIDC provider, roles by group)
    deploy_queries: DeployQueries
    env_config: EnvConfigService
    volume_config: VolumeConfigService
    instance_admin: InstanceAdmin
    transfer: ConfigTransfer
    audit_queries: AuditQueries  # the audit log's page and API


@dataclass(frozen=True)
class Runtime:
    """Everything routes, pages and the process lifecycle need, handed to them explicitly."""

    settings: Settings
    redactor: Redactor
    db: Database
    stores: Stores
    clients: Clients
    services: DeployServices
    detection: DetectionServices
    admin: AdminServices
    auth: AuthService
    audit: AuditLog
    oidc: OidcSignIn  # sign-in through the OIDC provider (its client and started sign-ins)
    users: UserAdmin  # users management (admins)
    audit_retention: AuditRetention  # purges old audit rows
    status: SystemStatus
    session_secret: str  # signs NiceGUI's browser storage

    async def close(self, *, drain_seconds: float, notify_grace: float = 5.0) -> None:
        """Stop in dependency order: auto-creations queue their deploys, running deploys
        finish (bounded) and send their last notifications, then clients and the database."""
        await self.detection.intake.shutdown()
        await self.services.deployer.shutdown(drain_seconds)
        await self.clients.notifier.aclose(notify_grace)
        await self.clients.http.aclose()
        await self.clients.probe_http.aclose()
        await self.clients.engine.close()
        self.db.close()


@dataclass(frozen=True)
class PageBundles:
    """What each group of pages is given, and the guard of their socket."""

    main: PageServices  # dashboard, project page, quick deploy
    config: ConfigServices  # new project, project configuration
    settings: SettingsServices
    audit: AuditServices  # the audit log page
    sessions: PageSessions  # which session each open page belongs to
    sign_in: OidcSignIn  # the login page: which ways in it offers, the provider's button

    def close(self) -> None:
        self.main.live.close()


def build_runtime(
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    proxies: ProxySource | None = None,
    poller: PollerOptions | None = None,
    hasher: PasswordHasher | None = None,
    images: ImagesPeer | None = None,
) -> Runtime:
    """Open the data directory and the (migrated) database, then build every service once.

    `proxies`, `poller` and `hasher` replace a default peer, `images` wraps the deploy's image
    fetcher (tests); the app passes none.
    """
    redactor = redactor or Redactor()
    key = _open_data_dir(settings, redactor)
    db = Database(path=settings.database_path)
    db.migrate()
    stores = build_stores(db=db, box=SecretBox(key=key, on_reveal=redactor.register))
    clients = build_clients(settings=settings, stores=stores, proxies=proxies)
    hasher = hasher or PasswordHasher()
    audit = AuditLog(stores.audit)
    services = build_services(
        settings=settings, stores=stores, clients=clients, audit=audit, images=images
    )
    jwt_key = derive_subkey(key, "jwt")
    auth = AuthService(
        users=stores.users, jwt_key=jwt_key, hasher=hasher, records=stores.sessions, audit=audit
    )
    return Runtime(
        settings=settings,
        redactor=redactor,
        db=db,
        stores=stores,
        clients=clients,
        services=services,
        detection=build_detection(
            stores=stores, clients=clients, services=services, options=poller
        ),
        admin=build_admin(
            settings=settings, stores=stores, clients=clients, services=services, audit=audit
        ),
        auth=auth,
        audit=audit,
        audit_retention=AuditRetention(audit=stores.audit, settings=stores.settings),
        oidc=OidcSignIn(
            settings=stores.settings, users=stores.users, auth=auth, audit=audit, http=clients.http
        ),
        users=UserAdmin(users=stores.users, auth=auth, audit=audit, hasher=hasher),
        status=SystemStatus(engine=clients.engine, db=db),
        session_secret=derive_subkey(key, "nicegui-storage").hex(),
    )


def _open_data_dir(settings: Settings, redactor: Redactor) -> bytes:
    """The data directory, owner only (database, key, session secrets); returns the key."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    redactor.register(settings.admin_password, settings.encryption_key)
    return resolve_encryption_key(settings)


def build_stores(*, db: Database, box: SecretBox) -> Stores:
    return Stores(
        settings=SettingsStore(db=db, box=box),
        registries=RegistryStore(db=db, box=box),
        projects=ProjectStore(db=db, box=box),
        instances=InstanceStore(db=db),
        deploys=DeployStore(db=db),
        seen=SeenTagStore(db=db),
        users=UserStore(db=db),
        sessions=SessionLedger(db=db),
        config=ConfigStore(db=db, box=box),
        audit=AuditStore(db=db),
    )


def build_clients(
    *, settings: Settings, stores: Stores, proxies: ProxySource | None = None
) -> Clients:
    http = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
    urls = [plain for _, plain in stores.settings.notification_urls()]
    return Clients(
        engine=DockerEngine(base_url=settings.docker_host),
        http=http,
        probe_http=httpx.AsyncClient(trust_env=False),
        registries=RegistryPool(registries=stores.registries, http=http),
        proxies=proxies or ProxyProvider(settings=stores.settings, http=http),
        notifier=Notifier(channels=channels_from_urls(urls=urls, client=http)),
    )


def build_services(
    *,
    settings: Settings,
    stores: Stores,
    clients: Clients,
    audit: AuditLog,
    images: ImagesPeer | None = None,
) -> DeployServices:
    bus = EventBus()
    instances = stores.instances
    installation = stores.settings.installation_id()
    router = Router(instances=instances)
    health = HealthChecker(http=clients.probe_http, engine=clients.engine)
    fetcher = ImageFetcher(engine=clients.engine, registries=clients.registries)
    control = InstanceControl(
        instances=instances,
        projects=stores.projects,
        settings=stores.settings,
        engine=clients.engine,
        router=router,
        proxies=clients.proxies,
        bus=bus,
    )
    deployer = Deployer(  # the deploy's steps in the order they run, each given what it uses
        records=DeployRecords(
            projects=stores.projects,
            deploys=stores.deploys,
            bus=bus,
            notifier=clients.notifier,
            audit=audit,
        ),
        check=CheckStep(
            projects=stores.projects,
            instances=instances,
            settings=stores.settings,
            deploys=stores.deploys,
            volume_defaults=settings.volume_root,
            sources=clients.registries,
            digests=fetcher,
        ),
        pull=PullStep(
            images=fetcher if images is None else images(fetcher),
            deploys=stores.deploys,
            instances=instances,
        ),
        plan=PlanStep(proxies=clients.proxies, instances=instances),
        stop=StopStep(instances=instances, engine=clients.engine, control=control),
        start=StartStep(engine=clients.engine, instances=instances, installation=installation),
        health=HealthStep(checker=health, instances=instances, in_network=settings.in_network),
        route=RouteStep(router=router, instances=instances),
        retire=RetireStep(
            instances=instances, control=control, drain_seconds=settings.drain_seconds
        ),
        cleanup=ImageCleanup(
            engine=clients.engine,
            projects=stores.projects,
            instances=instances,
            deploys=stores.deploys,
            settings=stores.settings,
        ),
    )
    cleanup = PendingCleanup(
        deploys=stores.deploys,
        instances=instances,
        control=control,
        bus=bus,
        stage_locks=deployer.exclusive,
    )
    lost = LostInstances(
        instances=instances,
        projects=stores.projects,
        control=control,
        router=router,
        proxies=clients.proxies,
        bus=bus,
        notifier=clients.notifier,
    )
    reconciler = Reconciler(
        instances=instances,
        deploys=stores.deploys,
        engine=clients.engine,
        control=control,
        lost=lost,
        bus=bus,
        installation=installation,
        cleanup=cleanup,
    )
    return DeployServices(
        bus=bus,
        router=router,
        health=health,
        control=control,
        deployer=deployer,
        cleanup=cleanup,
        reconciler=reconciler,
        rollbacks=Rollbacks(
            projects=stores.projects, deploys=stores.deploys, deployer=deployer, images=fetcher
        ),
        audit=audit,
    )


def build_detection(
    *,
    stores: Stores,
    clients: Clients,
    services: DeployServices,
    options: PollerOptions | None = None,
) -> DetectionServices:
    """Public for tests: a second detection over the same graph acts like a restart of it."""
    quick = QuickDeploy(
        stores=QuickDeployStores(
            projects=stores.projects, instances=stores.instances, settings=stores.settings
        ),
        pool=clients.registries,
        engine=clients.engine,
        deployer=services.deployer,
    )
    intake = Intake(
        stores=IntakeStores(
            projects=stores.projects,
            instances=stores.instances,
            deploys=stores.deploys,
            seen=stores.seen,
        ),
        pool=clients.registries,
        deployer=services.deployer,
        notifier=clients.notifier,
        bus=services.bus,
        creator=AutoCreator(
            settings=stores.settings, quick=quick, seen=stores.seen, notifier=clients.notifier
        ),
        audit=services.audit,
    )
    poller = Poller(
        stores=PollerStores(
            projects=stores.projects,
            instances=stores.instances,
            seen=stores.seen,
            settings=stores.settings,
        ),
        pool=clients.registries,
        intake=intake,
        options=options,
    )
    webhook = WebhookReceiver(
        secret=stores.settings.webhook_secret, registries=stores.registries, intake=intake
    )
    return DetectionServices(quick=quick, intake=intake, poller=poller, webhook=webhook)


def build_admin(
    *,
    settings: Settings,
    stores: Stores,
    clients: Clients,
    services: DeployServices,
    audit: AuditLog,
) -> AdminServices:
    return AdminServices(
        project_admin=ProjectAdmin(
            projects=stores.projects,
            instances=stores.instances,
            registries=stores.registries,
            control=services.control,
            deploys=stores.deploys,
            settings=stores.settings,
            audit=audit,
            gate=services.deployer,
        ),
        registry_admin=RegistryAdmin(
            registries=stores.registries,
            projects=stores.projects,
            http=clients.http,
            audit=audit,
        ),
        settings_admin=SettingsAdmin(
            settings=stores.settings,
            notifier=clients.notifier,
            http=clients.http,
            audit=audit,
        ),
        auth_settings=AuthSettingsAdmin(
            settings=stores.settings, users=stores.users, audit=audit, http=clients.http
        ),
        deploy_queries=DeployQueries(deploys=stores.deploys, bus=services.bus),
        env_config=EnvConfigService(projects=stores.projects, audit=audit),
        volume_config=VolumeConfigService(
            projects=stores.projects,
            instances=stores.instances,
            settings=stores.settings,
            default_root=settings.volume_root,
            audit=audit,
        ),
        instance_admin=InstanceAdmin(
            projects=stores.projects,
            instances=stores.instances,
            control=services.control,
            deployer=services.deployer,
            audit=audit,
        ),
        transfer=ConfigTransfer(config=stores.config, audit=audit),
        audit_queries=AuditQueries(stores.audit),
    )


def build_pages(runtime: Runtime) -> PageBundles:
    """Once per process: the live board subscribes to the event bus here and keeps every
    deploy's progress from then on, for every open page."""
    overview = Overview(
        db=runtime.db, projects=runtime.stores.projects, deploys=runtime.stores.deploys
    )
    admin, status = runtime.admin, runtime.status
    sessions = PageSessions(auth=runtime.auth)
    return PageBundles(
        main=PageServices(
            status=status,
            live=LiveBoard(bus=runtime.services.bus, overview=overview),
            overview=overview,
            instances=admin.instance_admin,
            quick=runtime.detection.quick,
            rollbacks=runtime.services.rollbacks,
        ),
        config=ConfigServices(
            projects=admin.project_admin,
            registries=admin.registry_admin,
            settings=admin.settings_admin,
            env=admin.env_config,
            volumes=admin.volume_config,
            status=status,
        ),
        settings=SettingsServices(
            settings=admin.settings_admin,
            registries=admin.registry_admin,
            transfer=admin.transfer,
            status=status,
            auth=runtime.auth,
            users=runtime.users,
            move_page=sessions.move,
            auth_settings=admin.auth_settings,
            redirect_uri=oidc_redirect_uri,
        ),
        audit=AuditServices(queries=admin.audit_queries, status=status),
        sessions=sessions,
        sign_in=runtime.oidc,
    )
