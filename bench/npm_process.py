"""The NPM emulator in its own process, as NPM is in production (another container).

In the benchmark's process its request handling would compete with the product for the GIL,
which real NPM never does. The child serves the emulator until told to stop; `resolve_on` makes
it answer forward hosts like Docker's DNS on a network (see `docker_resolver`).
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any


@dataclass(frozen=True)
class NpmAddress:
    url: str
    email: str
    password: str
    nginx_port: int


def _serve(conn: Connection) -> None:
    import docker

    from tests.support.npm_emulator import NpmEmulator, docker_resolver

    client = docker.from_env()
    with NpmEmulator() as npm:
        conn.send(NpmAddress(npm.url, npm.email, npm.password, npm.nginx_port))
        while True:
            command, argument = conn.recv()
            if command == "stop":
                break
            if command == "stats":
                conn.send(_stats(npm))
                continue
            npm.resolve = docker_resolver(client, argument)
            conn.send("ok")
    client.close()


@dataclass(frozen=True)
class NpmStats:
    """Counters since the emulator started: nginx reloads, and writes to proxy hosts."""

    reloads: int
    host_writes: int


def _stats(npm: Any) -> NpmStats:
    with npm.api.lock:
        writes = sum(
            1
            for method, path, _body in npm.api.requests
            if method in ("POST", "PUT", "DELETE") and path.startswith("/api/nginx/proxy-hosts")
        )
        return NpmStats(reloads=npm.nginx.generation, host_writes=writes)


class NpmProcess:
    """`with NpmProcess() as npm:` starts the emulator in a child process and stops it after."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads or sockets
        self._conn, child = context.Pipe()
        self._process: Any = context.Process(target=_serve, args=(child,), daemon=True)

    def __enter__(self) -> NpmAddress:
        self._process.start()
        try:
            if not self._conn.poll(30):
                raise TimeoutError("no answer within 30 s")
            address: NpmAddress = self._conn.recv()
        except (EOFError, TimeoutError) as exc:
            self._process.kill()
            raise RuntimeError(f"the NPM emulator process did not start: {exc!r}") from exc
        return address

    def resolve_on(self, network: str) -> None:
        self._conn.send(("resolve", network))
        self._conn.recv()

    def stats(self) -> NpmStats:
        self._conn.send(("stats", None))
        stats: NpmStats = self._conn.recv()
        return stats

    def __exit__(self, *_exc: object) -> None:
        self._conn.send(("stop", None))
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
