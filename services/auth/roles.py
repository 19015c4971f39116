"""What each role may do, decided in one place for the API routes and the pages alike.

Roles are ordered: a viewer reads status, a deployer also deploys, promotes, rolls back,
stops/starts/restarts and reads configuration, an admin does everything. A check names the
least role an action needs; a higher role passes it.
"""

from __future__ import annotations

from services.errors import Forbidden
from services.store.models import Role

_RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.ADMIN: 2}


def rank(role: Role) -> int:
    """The role's place in viewer < deployer < admin."""
    return _RANK[Role(role)]


def allows(have: Role, need: Role) -> bool:
    """Whether someone with role `have` may do what needs role `need`."""
    return rank(have) >= rank(need)


def refusal(need: Role) -> str:
    """The one wording of a refusal, naming the role needed (never a secret, never who)."""
    return f"needs the {Role(need).value} role"


def ensure_role(have: Role | None, need: Role) -> None:
    """Raise Forbidden unless `have` allows `need` (None: no signed-in person, refused)."""
    if have is None or not allows(have, need):
        raise Forbidden(refusal(need))
