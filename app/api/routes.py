"""Every REST route of the app, registered on NiceGUI's FastAPI app.

Each signed-in route declares the least role it needs (`dependencies=require(Role.X)`, see
app/api/roles.py); tests/unit/test_role_matrix.py fails on a route that declares none.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.api import (
    audit_routes,
    auth_routes,
    auth_settings_routes,
    config_import_routes,
    config_routes,
    deploy_routes,
    deploys_routes,
    health,
    instances_routes,
    oidc_routes,
    openapi_routes,
    project_config_routes,
    projects_routes,
    registries_routes,
    rollback_routes,
    settings_routes,
    users_routes,
    webhook_routes,
)
from app.api.errors import install_error_handlers
from app.wiring import Runtime


def register_routes(api: FastAPI, runtime: Runtime) -> None:
    """One line per route module; each module's `register` takes only what it needs."""
    auth_routes.register(api, runtime.auth, runtime.oidc)
    oidc_routes.register(api, runtime.auth, runtime.oidc)  # public: the provider's round trip
    health.register(api, runtime.status)
    deployer = runtime.services.deployer
    # public: its URL secret
    webhook_routes.register(api, runtime.detection.webhook, lambda: deployer.accepting)
    install_error_handlers(api)  # one error shape for the routes below
    admin = runtime.admin
    projects_routes.register(api, admin.project_admin, admin.env_config, admin.volume_config)
    project_config_routes.register(api, admin.env_config, admin.volume_config)
    instances_routes.register(api, admin.instance_admin)
    rollback_routes.register(api, runtime.services.rollbacks)
    registries_routes.register(api, admin.registry_admin)
    settings_routes.register(api, admin.settings_admin)
    auth_settings_routes.register(api, admin.auth_settings)
    users_routes.register(api, runtime.users)
    deploys_routes.register(api, admin.deploy_queries)
    deploy_routes.register(api, runtime.detection.quick, admin.project_admin)
    config_routes.register(api, admin.transfer)
    config_import_routes.register(api, admin.transfer)
    audit_routes.register(api, admin.audit_queries)
    openapi_routes.register(api)  # GET /api/openapi.json
