"""Why a connection to an outside HTTP service failed, in words that say what to do.

"Test connection" must tell apart nothing answering (refused, unknown host, no answer in time)
and a TLS handshake that failed; the adapters (NPM, registries) call `explain` on the httpx
exception and raise what it returns. A wrong port or path is told by the adapter itself from
the answer it got (`WrongService`).
"""

from __future__ import annotations

import socket
import ssl

import httpx

from services.errors import CannotConnect, Timeout, TlsProblem, WatcherError

_DETAIL_MAX = 200


def explain(exc: httpx.HTTPError | httpx.InvalidURL, where: str, url: str) -> WatcherError:
    """Our error for a failed exchange with `where` (e.g. "NPM at http://npm:81") at `url`."""
    detail = _detail(exc)
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(
            f"{where} did not answer in time ({type(exc).__name__}): check the address and "
            "port, and that a firewall does not drop the connection"
        )
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return CannotConnect(f"{url!r} is not a usable address ({detail}): use http(s)://host:port")
    if _caused_by(exc, ssl.SSLError) or "SSL" in detail:
        return TlsProblem(f"TLS problem with {where}: {detail}. {_tls_advice(detail)}")
    if _caused_by(exc, socket.gaierror) or "name or service not known" in detail.lower():
        return CannotConnect(
            f"cannot reach {where}: its host name does not resolve ({detail}). Check the "
            "spelling, or use a name Docker Watcher can resolve (a container name on a shared "
            "network)"
        )
    if _caused_by(exc, ConnectionRefusedError) or "refused" in detail.lower():
        return CannotConnect(
            f"cannot reach {where}: nothing answers (connection refused). Check the port, "
            "and that the service runs and listens where Docker Watcher can reach it"
        )
    return CannotConnect(f"cannot reach {where}: {detail}")


def _tls_advice(detail: str) -> str:
    lowered = detail.lower()
    if "wrong_version_number" in lowered or "record layer" in lowered or "packet length" in lowered:
        return "The port does not speak TLS: use http:// or the TLS port."
    if "hostname" in lowered or "ip address mismatch" in lowered:
        return "Its certificate is for another name: use the name on the certificate."
    if "self-signed" in lowered or "self signed" in lowered or "verify failed" in lowered:
        return (
            "Its certificate is not trusted (self-signed or an unknown authority): give it a "
            "certificate from a trusted authority, or use http:// on the internal network."
        )
    return "Check the service's certificate and the address's scheme."


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _detail(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_DETAIL_MAX]
