"""Pushes tiny images straight through a registry's HTTP API, for benchmarks (no Docker needed).

One gzipped layer and one config blob per repository, then one schema-2 manifest per tag; every
tag of a repository shares that manifest (and so its digest), which is all a poller looks at.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile

import httpx

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


class Seeder:
    def __init__(self, url: str, auth: tuple[str, str], concurrency: int = 8) -> None:
        self.url = url
        self.host = url.removeprefix("http://")
        self.auth = auth
        self.digests: dict[str, str] = {}  # "repo:tag" → manifest digest
        self._http = httpx.AsyncClient(auth=auth, timeout=30)
        self._limit = asyncio.Semaphore(concurrency)

    async def push(self, repo: str, tags: list[str]) -> None:
        async with self._limit:
            raw = _tar("marker.txt", repo.encode())
            layer = gzip.compress(raw, mtime=0)
            config = json.dumps(
                {"architecture": "amd64", "os": "linux", "config": {},
                 "rootfs": {"type": "layers", "diff_ids": [_digest(raw)]}}
            ).encode()  # fmt: skip
            await self._blob(repo, layer)
            await self._blob(repo, config)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST,
                    "config": _descriptor("application/vnd.docker.container.image.v1+json", config),
                    "layers": [
                        _descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)
                    ],
                }
            ).encode()
            for tag in tags:
                answer = await self._http.put(
                    f"{self.url}/v2/{repo}/manifests/{tag}",
                    content=manifest,
                    headers={"Content-Type": MANIFEST},
                )
                answer.raise_for_status()
                self.digests[f"{repo}:{tag}"] = answer.headers["docker-content-digest"]

    async def _blob(self, repo: str, data: bytes) -> None:
        start = await self._http.post(f"{self.url}/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = httpx.URL(self.url).join(start.headers["location"])
        done = await self._http.put(
            location.copy_merge_params({"digest": _digest(data)}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        done.raise_for_status()

    async def aclose(self) -> None:
        await self._http.aclose()


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "size": len(data), "digest": _digest(data)}
