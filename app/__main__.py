"""`python -m app` (and the `docker-watcher` console script, and the PyInstaller binary)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from app.config import Settings, load_settings
from app.version import VERSION
from services.errors import ConfigError, WatcherError
from services.secrets import generate_key_hex

USAGE = """usage: docker-watcher [run|keygen|backup FILE|restore FILE|--version]
  run           start the web app (default)
  keygen        print a fresh ENCRYPTION_KEY
  backup FILE   copy the database to FILE, consistent even while the app runs
  restore FILE  put the backup FILE in place of the database (stop the app first)
  --version     print the version and the database schema it writes"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command, operands = (args[0], args[1:]) if args else ("run", [])
    if command in {"--version", "version"}:
        return _print_version()
    if command == "keygen":
        print(generate_key_hex())
        return 0
    if command in {"backup", "restore"} and len(operands) == 1:
        return _with_settings(
            lambda settings: _backup_or_restore(command, settings, operands[0]), command
        )
    if command != "run" or operands:
        print(USAGE, file=sys.stderr)
        return 2
    return _with_settings(_run, "start")


def _with_settings(action: Callable[[Settings], int], doing: str) -> int:
    try:
        return action(load_settings())
    except ConfigError as exc:
        print(f"docker-watcher: {exc}", file=sys.stderr)
        return 2
    except WatcherError as exc:
        print(f"docker-watcher: cannot {doing}: {exc}", file=sys.stderr)
        return 1


def _run(settings: Settings) -> int:
    from app.main import run  # heavy import (NiceGUI) only when actually running

    run(settings)
    return 0


def _print_version() -> int:
    from services.store.db import head_revision

    print(f"docker-watcher {VERSION} (database schema {head_revision()})")
    return 0


def _backup_or_restore(command: str, settings: Settings, file: str) -> int:
    from app.data_lock import hold_data_dir, release
    from services.store.backup import backup, restore

    if command == "backup":
        revision = backup(settings.database_path, Path(file))
        print(f"backed up {settings.database_path} to {file} (schema {revision})")
        print(
            "keep the encryption key with it (ENCRYPTION_KEY, or the key file "
            f"{settings.key_file}): without the key the stored secrets cannot be read"
        )
        return 0
    lock = hold_data_dir(settings.data_dir)  # refuses while the app runs
    try:
        kept = restore(Path(file), settings.database_path)
    finally:
        release(lock)
    print(f"restored {file} to {settings.database_path}")
    if kept is not None:
        print(f"the database it replaced is kept as {kept}")
    return 0


if __name__ in {"__main__", "__mp_main__"}:
    sys.exit(main())
