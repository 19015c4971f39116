"""Unknown images seen by the webhook: create the project, but only where the settings allow.

`auto_create_allow` holds shell globs over `registry-host/repository` (`git.example.com/alexei/*`;
`*` also crosses `/`), empty by default. An allowed image is inspected, saved as a project with the
quick-deploy defaults (`services.detect.proposals`) and deployed, all in the background: the webhook
answers at once. Anything else is logged and notified once per (image, tag), never deployed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from services.audit.log import WEBHOOK
from services.detect.decisions import Decision, Outcome
from services.detect.quick_deploy import QuickDeploy
from services.detect.webhook_payloads import Pushed
from services.errors import WatcherError
from services.imageref import ImageRef
from services.notify.notifier import Notification, Notifier
from services.store.models import DeployTrigger
from services.store.seen_tags import SeenState, SeenTagStore
from services.store.settings_store import SettingsStore

log = logging.getLogger(__name__)
Reroute = Callable[[Pushed, DeployTrigger], Awaitable[object]]
NOT_ALLOWED = (
    "no project uses this image, and its repository is not on the auto-create allow-list "
    "(Settings); create the project or allow the repository"
)


def allowed(ref: ImageRef, patterns: list[str]) -> bool:
    """True when `registry/repository` matches one of the allow-list globs (case-insensitive)."""
    name = ref.name
    for pattern in patterns:
        cleaned = pattern.strip().lower().removeprefix("https://").removeprefix("http://")
        if cleaned and fnmatch.fnmatchcase(name, cleaned):
            return True
    return False


class AutoCreator:
    """Creates projects for allowed unknown images; remembers recent refusals to stay quiet."""

    def __init__(
        self,
        settings: SettingsStore,
        quick: QuickDeploy,
        seen: SeenTagStore,
        notifier: Notifier,
        *,
        memory: int = 1024,
    ) -> None:
        self._settings = settings
        self._quick = quick
        self._seen = seen
        self._notifier = notifier
        self._memory = memory
        self._reported: OrderedDict[tuple[str, str | None], None] = OrderedDict()
        self._creating: dict[str, asyncio.Task[None]] = {}

    async def handle(self, pushed: Pushed, reroute: Reroute) -> Outcome:
        """Decide about an image no project uses; creation continues in the background."""
        ref = pushed.ref
        patterns = (await asyncio.to_thread(self._settings.get_global)).auto_create_allow
        if not allowed(ref, patterns):
            self._report(pushed)
            return Outcome(str(ref), None, (Decision("ignored", NOT_ALLOWED),))
        if ref.name in self._creating:
            detail = "a project for this image is already being created"
            return Outcome(str(ref), None, (Decision("creating", detail),))
        task = asyncio.get_running_loop().create_task(self._create(pushed, reroute))
        self._creating[ref.name] = task
        detail = "no project uses this image; creating one from it and deploying in the background"
        return Outcome(str(ref), None, (Decision("creating", detail),))

    async def shutdown(self, timeout: float = 30.0) -> None:
        """Let running creations finish (bounded); they only queue deploys."""
        if self._creating:
            await asyncio.wait(set(self._creating.values()), timeout=timeout)

    async def _create(self, pushed: Pushed, reroute: Reroute) -> None:
        ref = pushed.ref
        try:
            proposal = await self._quick.inspect(str(ref))
            if proposal.existing_project_id is not None:  # created meanwhile by someone else
                await reroute(pushed, DeployTrigger.WEBHOOK)
                return
            deploy = await self._quick.accept(
                proposal, actor=WEBHOOK, trigger=DeployTrigger.WEBHOOK
            )
            assert deploy.project_id is not None
            digest = proposal.digest or ""
            await asyncio.to_thread(
                self._seen.claim, deploy.project_id, proposal.tag, digest, SeenState.DEPLOYED
            )
            log.info("created project %s from %s (deploy #%s)", proposal.name, ref, deploy.id)
        except WatcherError as exc:
            log.warning("could not create a project from %s: %s", ref, exc)
            note = Notification(
                kind="deploy_failed", project=ref.name, tag=ref.tag, step="create", error=str(exc)
            )
            self._notifier.notify(note)
        finally:
            self._creating.pop(ref.name, None)

    def _report(self, pushed: Pushed) -> None:
        """Log and notify an unknown image once per image:tag among recent ones (the sender's
        digest plays no part: made-up digests must not turn one image into many reports)."""
        key = (pushed.ref.name, pushed.ref.tag)
        if key in self._reported:
            self._reported.move_to_end(key)
            return
        self._reported[key] = None
        while len(self._reported) > self._memory:
            self._reported.popitem(last=False)
        log.info("ignored %s: no project uses it and it is not on the allow-list", pushed.ref)
        note = Notification(
            kind="tag_waiting", project=pushed.ref.name, tag=pushed.ref.tag, error=NOT_ALLOWED
        )
        self._notifier.notify(note)
