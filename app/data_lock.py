"""One Docker Watcher per data directory.

Two processes over one database would both deploy, poll and reconcile the same containers; and
a restore must never swap the database under a running app. The running app holds an exclusive
`flock` on a file in the data directory for its whole life; the kernel releases it when the
process ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from services.errors import ConfigError

LOCK_FILE_NAME = "watcher.lock"


def hold_data_dir(data_dir: Path) -> int:
    """Take the lock for this process's life (the descriptor is answered and kept open);
    ConfigError when another process holds it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"another Docker Watcher is running on the data directory {data_dir}; stop it first"
        ) from None
    return fd


def release(fd: int) -> None:
    os.close(fd)
