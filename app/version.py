"""The version of Docker Watcher (kept equal to pyproject.toml's by a test)."""

VERSION = "0.1.0"
