"""Every NiceGUI page of the app, each given only the services it calls (built in app.wiring)."""

from __future__ import annotations

from app.wiring import PageBundles
from pages import audit, dashboard, login, project, project_config, quick_deploy, settings
from services.auth.sessions import AuthService


def register_pages(auth: AuthService, pages: PageBundles) -> None:
    """One line per page module."""
    login.register(auth, pages.sign_in)
    # Before project: its /projects/{project_id} would otherwise also match /projects/new.
    project_config.register(pages.config)
    dashboard.register(pages.main)
    project.register(pages.main)
    quick_deploy.register(pages.main)
    settings.register(pages.settings)
    audit.register(pages.audit)
