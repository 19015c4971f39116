"""Steady HTTP load at one virtual host of nginx, from a child process, counted by kind.

Two kinds of client run side by side, as they do in front of a real proxy:
- *fresh*: a new connection per request (`Connection: close`), like a browser meeting the
  site for the first time or a health checker;
- *kept-alive*: one persistent connection per client, reopened only after it failed, like a
  browser tab or an API client with a pool. A graceful nginx reload closes idle kept-alive
  connections; the request that meets the closed socket fails and is counted as such.

The clients run in their own process so their CPU use does not compete with the product's event
loop for the GIL. Every answer is recorded with `time.monotonic()` (one clock for all processes
on Linux), so the caller can cut the record into its own time windows.
"""

from __future__ import annotations

import http.client
import itertools
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

PAUSE = 0.01  # between one client's requests
TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when the answer (or the failure) arrived
    kind: str  # "fresh" or "kept-alive"
    outcome: str  # "200", "status 502", "closed by server", "refused", "timeout", ...


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return "closed by server"
    return type(exc).__name__


def _fresh(port: int, host: str, stop: ProcessEvent, out: list[Answer]) -> None:
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            conn.request("GET", "/health", headers={"Host": host, "Connection": "close"})
            response = conn.getresponse()
            response.read()
            status = response.status
            outcome = "200" if status == 200 else f"status {status}"
        except (OSError, http.client.HTTPException) as exc:
            outcome = _outcome(exc)
        finally:
            conn.close()
        out.append(Answer(time.monotonic(), "fresh", outcome))
        time.sleep(PAUSE)


def _kept_alive(port: int, host: str, stop: ProcessEvent, out: list[Answer]) -> None:
    conn: http.client.HTTPConnection | None = None
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            conn.request("GET", "/health", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            status = response.status
            outcome = "200" if status == 200 else f"status {status}"
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            outcome = _outcome(exc)
            conn.close()
            conn = None
        out.append(Answer(time.monotonic(), "kept-alive", outcome))
        time.sleep(PAUSE)
    if conn is not None:
        conn.close()


def _run(port: int, host: str, clients: tuple[int, int], stop: ProcessEvent, conn: Any) -> None:
    answers: list[Answer] = []  # list.append is atomic under the GIL
    fresh, kept = clients
    threads = [
        threading.Thread(target=_fresh, args=(port, host, stop, answers)) for _ in range(fresh)
    ] + [
        threading.Thread(target=_kept_alive, args=(port, host, stop, answers)) for _ in range(kept)
    ]
    for thread in threads:
        thread.start()
    conn.send("started")
    for thread in threads:
        thread.join()
    conn.send(answers)


@dataclass
class Load:
    """`with Load(port, host) as load:` … then `load.answers` after the block."""

    port: int
    host: str
    clients: tuple[int, int] = (2, 2)  # fresh, kept-alive
    answers: list[Answer] = field(default_factory=list)

    def __enter__(self) -> Load:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._conn, child = context.Pipe()
        self._process: Any = context.Process(
            target=_run, args=(self.port, self.host, self.clients, self._stop, child), daemon=True
        )
        self._process.start()
        if not self._conn.poll(30) or self._conn.recv() != "started":
            self._process.kill()
            raise RuntimeError("the load process did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._conn.poll(60):
            self.answers = self._conn.recv()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()


def longest_gap(answers: list[Answer], start: float, end: float) -> float:
    """The longest time within [start, end] without a 200 (the clients' merged view)."""
    times = [start, *sorted(a.at for a in answers if a.outcome == "200" and start <= a.at <= end)]
    times.append(end)
    return max(b - a for a, b in itertools.pairwise(times))
