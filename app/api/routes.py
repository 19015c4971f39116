"""Every REST route of the app, registered on NiceGUI's FastAPI app (SPEC §8)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api import auth_routes, config_routes, health, webhook_routes
from app.runtime import Runtime


def register_routes(api: FastAPI, runtime: Runtime) -> None:
    """One line per route module; each module's `register` takes only what it needs."""
    auth_routes.register(api, runtime.auth)
    health.register(api, runtime.status)
    config_routes.register(api, runtime.stores.config)
    webhook_routes.register(api, runtime.detection.webhook)  # public: its URL secret
