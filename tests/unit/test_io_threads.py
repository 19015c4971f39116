"""The event loop's blocking-call threads: enough for ten deploys' docker-py calls at once."""

from __future__ import annotations

import asyncio
import threading

from app.threads import use_io_threads

AT_ONCE = 20  # two blocking calls each for ten deploys of different projects


def test_twenty_blocking_calls_run_at_once() -> None:
    """Each call waits until all twenty are inside: with asyncio's default pool (6 threads on
    2 cores) the barrier breaks, as the later calls queue behind the waiting ones."""
    barrier = threading.Barrier(AT_ONCE, timeout=10)

    async def calls() -> None:
        use_io_threads(asyncio.get_running_loop())
        await asyncio.gather(*(asyncio.to_thread(barrier.wait) for _ in range(AT_ONCE)))

    asyncio.run(calls())
    assert not barrier.broken
