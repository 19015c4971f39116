"""The dashboard's project cards: one Quasar table in grid mode, each card drawn in the browser.

Why not one NiceGUI element per label: a card is ~35 elements, and 100 projects took ~900 ms to
build on the server (bench/ui.py). Here a card is a row of plain data and the browser renders it
from one Vue template (whose `{{ }}` escapes every value), so the dashboard costs one element
whatever the number of projects, a live change resends only the rows, and Quasar's table filter
searches the cards for free.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nicegui import ui

from pages.components.fmt import ago
from pages.components.status import DEPLOY_STYLE, LIGHT_COLOR
from services.views.models import Light, ProjectCard

COLUMNS: list[dict[str, Any]] = [  # what the filter searches; grid mode has no headers
    {"name": "name", "label": "Project", "field": "name", "sortable": True},
    {"name": "image", "label": "Image", "field": "image"},
    {"name": "stages", "label": "Stages", "field": "stages"},
]
LIGHTS = "[" + ",".join(f"['{k.value}','{LIGHT_COLOR[k]}']" for k in Light) + "]"
CARD = (
    r"""
<div class="q-pa-sm col-xs-12 col-md-6 col-lg-4">
  <a :href="props.row.href" class="block no-underline text-inherit h-full"
     :data-project="props.row.name">
  <q-card class="h-full cursor-pointer hover:shadow-lg transition-shadow">
    <q-card-section class="row no-wrap items-start q-pb-sm">
      <div class="col" style="min-width: 0">
        <div class="text-lg font-semibold text-primary ellipsis">{{ props.row.name }}</div>
        <div class="text-xs text-grey-7 font-mono ellipsis">{{ props.row.image }}</div>
      </div>
      <div class="column items-end q-ml-sm">
        <div class="text-2xl font-semibold leading-none">{{ props.row.running }}</div>
        <div class="text-xs text-grey-7">running</div>
      </div>
    </q-card-section>
    <q-card-section class="row q-gutter-xs q-py-none">
      <q-badge v-for="stage in props.row.stages.split(' ').filter(Boolean)" :key="stage" rounded
               color="blue-grey-1" text-color="blue-grey-9" :label="stage" />
      <q-badge v-if="props.row.waiting" rounded color="amber-2" text-color="amber-10"
               :label="props.row.waiting" />
    </q-card-section>
    <q-card-section class="row items-center q-gutter-x-md text-sm">
      <div v-for="[kind, color] in LIGHTS" :key="kind" class="row items-center no-wrap"
           :class="props.row[kind] ? '' : 'opacity-30'" :title="props.row[kind] + ' ' + kind">
        <q-icon name="circle" :color="color" size="10px" class="q-mr-xs" />
        {{ props.row[kind] }} {{ kind }}
      </div>
    </q-card-section>
    <q-separator />
    <q-card-section class="row items-center no-wrap q-gutter-x-sm text-sm q-py-sm">
      <template v-if="props.row.status">
        <q-chip dense square outline :color="props.row.status_color"
                :icon="props.row.status_icon" :label="props.row.status" />
        <span class="font-mono ellipsis">{{ props.row.latest }}</span>
        <span class="text-grey-7 q-ml-auto no-wrap">{{ props.row.ago }}</span>
      </template>
      <span v-else class="text-grey-7">No deploys yet</span>
    </q-card-section>
  </q-card>
  </a>
</div>
"""
).replace("LIGHTS", LIGHTS)


class ProjectGrid(ui.table):
    """The cards; `show(cards)` replaces the rows (one small message per open tab)."""

    def __init__(self, cards: list[ProjectCard]) -> None:
        super().__init__(rows=[row(c) for c in cards], columns=COLUMNS, row_key="id")
        self.props("grid flat hide-pagination card-container-class=q-col-gutter-none")
        self.classes("w-full dw-projects")
        self.add_slot("item", CARD)

    def show(self, cards: list[ProjectCard]) -> None:
        self.rows = [row(c) for c in cards]
        self.update()

    def refresh_times(self) -> None:
        """Re-render "5 min ago" texts from each row's own timestamp."""
        for item in self.rows:
            item["ago"] = _ago(item["at"])
        self.update()

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        """What the cards show, for `user.should_see` (the browser draws it from the rows)."""
        texts: list[Any] = []
        for item in self.rows:
            latest = item["latest"] or "No deploys yet"
            texts += [item["name"], item["image"], latest, item["waiting"]]
            texts += [f"{item[kind.value]} {kind.value}" for kind in Light]
        return texts


def row(card: ProjectCard) -> dict[str, Any]:
    """A card as the template reads it (flat: the table must not hold lists)."""
    latest = card.latest
    at = (latest.finished_at or latest.at).isoformat() if latest else ""
    color, icon = DEPLOY_STYLE.get(latest.status, ("grey-7", "help")) if latest else ("", "")
    waiting = (
        f"{card.waiting} tag{'s' if card.waiting != 1 else ''} waiting" if card.waiting else ""
    )
    return {
        "id": card.id,
        "href": f"/projects/{card.id}",
        "name": card.name,
        "image": card.image,
        "stages": " ".join(card.stages),
        "running": card.running,
        **{kind.value: card.lights[kind] for kind in Light},
        "waiting": waiting,
        "status": latest.status if latest else "",
        "status_color": color,
        "status_icon": icon,
        "latest": f"{latest.tag} → {latest.stage}" if latest else "",
        "at": at,
        "ago": _ago(at),
    }


def _ago(iso: str) -> str:
    return ago(datetime.fromisoformat(iso)) if iso else ""
