"""The two NPM API calls a hand-made deploy script makes: create a proxy host, repoint it.

The benchmarks' baselines use it to do by hand, through the same NPM emulator, what the product
does: the cost of one proxy-host write and its nginx reload is then in both sides of a ratio.
"""

from __future__ import annotations

from typing import Any

import httpx


class NpmApi:
    """A logged-in NPM API client (`with NpmApi(url, email, password) as npm:`)."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=30)
        answer = self._http.post("/api/tokens", json={"identity": email, "secret": password})
        answer.raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def __enter__(self) -> NpmApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    def create_host(self, domain: str, forward_host: str, port: int) -> int:
        answer = self._http.post(
            "/api/nginx/proxy-hosts", json=self._body(domain, forward_host, port)
        )
        answer.raise_for_status()
        return int(answer.json()["id"])

    def point_host(self, host_id: int, domain: str, forward_host: str, port: int) -> None:
        answer = self._http.put(
            f"/api/nginx/proxy-hosts/{host_id}", json=self._body(domain, forward_host, port)
        )
        answer.raise_for_status()

    def delete_host(self, host_id: int) -> None:
        self._http.delete(f"/api/nginx/proxy-hosts/{host_id}").raise_for_status()

    @staticmethod
    def _body(domain: str, forward_host: str, port: int) -> dict[str, Any]:
        return {
            "domain_names": [domain],
            "forward_scheme": "http",
            "forward_host": forward_host,
            "forward_port": port,
        }
