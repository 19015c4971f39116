"""`python -m app` (and the `docker-watcher` console script, and the PyInstaller binary)."""

from __future__ import annotations

import sys

from app.config import load_settings
from services.errors import ConfigError, WatcherError
from services.secrets import generate_key_hex

USAGE = """usage: docker-watcher [run|keygen]
  run      start the web app (default)
  keygen   print a fresh ENCRYPTION_KEY"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "run"
    if command == "keygen":
        print(generate_key_hex())
        return 0
    if command != "run":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        from app.main import run  # heavy import (NiceGUI) only when actually running

        run(settings)
    except ConfigError as exc:
        print(f"docker-watcher: {exc}", file=sys.stderr)
        return 2
    except WatcherError as exc:
        print(f"docker-watcher: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ in {"__main__", "__mp_main__"}:
    sys.exit(main())
