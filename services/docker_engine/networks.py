"""Bridge networks by name, created at most once even when several callers race.

The engine does not enforce unique network names atomically (two clients creating at once both
succeed), so the earliest-created network of a name is the one everybody uses.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import docker.errors

from services.docker_engine.mapping import EPOCH, timestamp


def ensure_network(api: Any, name: str, lock: threading.Lock) -> str:
    """The id of network `name`, created (bridge) unless it exists.

    Calls sharing `lock` are serialised; after creating, a racer from another process that
    created a later duplicate removes its own (still empty) network and returns the winner.
    """
    with lock:
        existing = find_network(api, name)
        if existing:
            return existing
        created = _create_network(api, name)
        winner = find_network(api, name) or created
        if winner != created:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_network(created)
        return winner


def find_network(api: Any, name: str) -> str | None:
    """The id of the earliest-created network named exactly `name` (the engine's name filter
    also matches substrings, and duplicates can exist)."""
    same = [n for n in api.networks(names=[name]) if n.get("Name") == name]
    if not same:
        return None
    oldest = min(same, key=lambda n: (timestamp(n.get("Created")) or EPOCH, n["Id"]))
    return str(oldest["Id"])


def _create_network(api: Any, name: str) -> str:
    """Create a bridge network; a 409 (another client won a checked race) is not an error."""
    try:
        return str(api.create_network(name, driver="bridge", check_duplicate=True)["Id"])
    except docker.errors.APIError as exc:
        found = find_network(api, name) if exc.status_code == 409 else None
        if found is None:
            raise
        return found
