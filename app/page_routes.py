"""Every NiceGUI page of the app, each given only the services it calls."""

from __future__ import annotations

from app.runtime import Runtime
from pages import dashboard, login


def register_pages(runtime: Runtime) -> None:
    """One line per page module."""
    login.register(runtime.auth)
    dashboard.register(runtime.status)
