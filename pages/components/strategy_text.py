"""How the pages name a stage's deploy strategy and explain it (the form, the chips, badges)."""

from __future__ import annotations

from services.fields import STRATEGY_EXPLAINED
from services.store.models import DeployStrategy

LABELS = {
    DeployStrategy.BLUE_GREEN.value: "Blue-green (no downtime)",
    DeployStrategy.STOP_FIRST.value: "Stop first (never two at once)",
}
SHORT = {
    DeployStrategy.BLUE_GREEN.value: "blue-green",
    DeployStrategy.STOP_FIRST.value: "stop first",
}
TOOLTIP = (
    f"Blue-green: {STRATEGY_EXPLAINED['blue_green']}. "
    f"Stop first: {STRATEGY_EXPLAINED['stop_first']}. "
    "A deploy replaces the stage's instance of the same tag and, over max instances, the "
    "oldest; with max instances above 1 the others keep running beside the new one."
)


def short_label(strategy: str) -> str:
    """The chip or badge text for a strategy ("blue-green", "stop first")."""
    return SHORT.get(str(strategy), str(strategy))


def explained(strategy: str) -> str:
    """One strategy's explanation, for a badge's tooltip."""
    return STRATEGY_EXPLAINED.get(str(strategy), "")
