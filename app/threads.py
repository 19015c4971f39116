"""The worker threads that run the process's blocking calls (docker-py, SQLite, bcrypt).

Every blocking call goes off the event loop through `asyncio.to_thread`, which uses the loop's
default executor. asyncio's own default has min(32, cores + 4) threads: 6 on a 2-core NAS. One
deploy holds a thread for each docker-py call (a pull streams for seconds; create and start
take about a second), so ten deploys of different projects pushed by one CI release would wait
for each other's threads, although only deploys of the same stage should ever wait. The threads
are made only when work needs them and mostly sleep on a socket.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

IO_THREADS = 64


def use_io_threads(loop: asyncio.AbstractEventLoop) -> None:
    """Give `loop` the process's pool of blocking-call threads (at start-up)."""
    loop.set_default_executor(ThreadPoolExecutor(IO_THREADS, thread_name_prefix="dw-io"))
