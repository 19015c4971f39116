"""Connecting one open page to the live board: watchers that end with their page or element."""

from __future__ import annotations

from nicegui import ui

from services.views.live_board import Change, LiveBoard, Watcher


def follow(board: LiveBoard, watcher: Watcher, owner: ui.element | None = None) -> None:
    """Call `watcher` on every change (on the event loop) while the page and `owner` exist.

    A watcher whose `owner` element was deleted (e.g. by a refresh) removes itself at the next
    change; every watcher of a page goes when the page's client is deleted.
    """
    client = ui.context.client

    def guarded(change: Change) -> None:
        if client.is_deleted or (owner is not None and owner.is_deleted):
            stop()
            return
        watcher(change)

    stop = board.watch(guarded)
    client.on_delete(stop)
