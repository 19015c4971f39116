"""Tiny test images built without any pull, and pushing them to a test registry.

No image can be pulled from the internet on the test machines, so each image is a one-layer
rootfs imported like ``docker import``: Debian's static busybox (which is shell, HTTP server
and wget at once) plus a ``/www`` folder. The marker (default: the ref) is written into the
content, so two tags never share a digest. Variants:

=========== =============================================== ===============================
variant     command                                         Docker HEALTHCHECK
=========== =============================================== ===============================
ok          httpd on 8080 serving /www, /health answers 200 wget /health every 1 s
nohealth    same as ok                                      none
unhealthy   httpd on 8080, no /www/health (GET /health 404) wget /health, so it fails
exits       ``echo bye; exit 3``                            none
slow        ``sleep 3`` then httpd as in ok                 as ok, with a 30 s start period
slower      ``sleep 12`` then httpd as in ok                as ok, with a 60 s start period
=========== =============================================== ===============================

Every variant has ``EXPOSE 8080`` and ``LABEL org.opencontainers.image.title=demo``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import tarfile
from pathlib import Path
from typing import Any, Protocol

import docker.errors
import docker.utils
from docker import DockerClient
from docker.utils.json_stream import json_stream

from tests.support.docker_env import track

BUSYBOX_APPLETS = (
    "sh", "httpd", "wget", "sleep", "cat", "env", "echo", "ls", "mkdir", "touch", "false", "true",
)  # fmt: skip
HTTPD = '"/bin/httpd","-f","-p","8080","-h","/www"'
HEALTHCHECK = (
    "HEALTHCHECK --interval=1s --timeout=2s --retries=2{extra} "
    "CMD wget -q -O- http://127.0.0.1:8080/health || exit 1"
)
VARIANT_CHANGES: dict[str, list[str]] = {
    "ok": [f"CMD [{HTTPD}]", HEALTHCHECK.format(extra="")],
    "nohealth": [f"CMD [{HTTPD}]"],
    "unhealthy": [f"CMD [{HTTPD}]", HEALTHCHECK.format(extra="")],
    "exits": ['CMD ["/bin/sh","-c","echo bye; exit 3"]'],
    "slow": [
        'CMD ["/bin/sh","-c","sleep 3; exec /bin/httpd -f -p 8080 -h /www"]',
        HEALTHCHECK.format(extra=" --start-period=30s"),
    ],
    "slower": [
        'CMD ["/bin/sh","-c","sleep 12; exec /bin/httpd -f -p 8080 -h /www"]',
        HEALTHCHECK.format(extra=" --start-period=60s"),
    ],
}
COMMON_CHANGES = ["EXPOSE 8080", "LABEL org.opencontainers.image.title=demo"]
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class RegistryAccess(Protocol):
    """What pushing needs from ``RegistryServer`` or ``TokenRegistryServer``."""

    @property
    def host(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


class PushError(RuntimeError):
    """The Engine reported an error inside the push stream (it does not raise by itself)."""


def busybox_path() -> Path:
    """The static busybox to copy into images (``DW_TEST_BUSYBOX`` overrides /bin/busybox)."""
    return Path(os.environ.get("DW_TEST_BUSYBOX", "/bin/busybox"))


@functools.cache
def _busybox_bytes() -> bytes:
    """Read busybox once per run, refusing a dynamic build that could not run in a scratch image."""
    path = busybox_path()
    hint = "install Debian's busybox-static (scripts/test.sh does it as root)"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {hint}")
    data = path.read_bytes()
    if _has_interpreter(data):
        raise RuntimeError(f"{path} is dynamically linked and cannot run alone: {hint}")
    return data


def _has_interpreter(elf: bytes) -> bool:
    """True when a 64-bit little-endian ELF asks for a dynamic loader (a PT_INTERP header)."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    entsize, count = struct.unpack_from("<HH", elf, 0x36)
    pt_interp = 3
    return any(
        struct.unpack_from("<I", elf, phoff + i * entsize)[0] == pt_interp for i in range(count)
    )


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def rootfs_tar(variant: str, marker: str) -> bytes:
    """The image's whole filesystem as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("bin", 0o755), ("www", 0o755), ("tmp", 0o1777)):
            _add_dir(tar, directory, mode)
        _add_file(tar, "bin/busybox", _busybox_bytes(), 0o755)
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        _add_file(tar, "www/index.html", f"<h1>{marker}</h1>\n".encode())
        _add_file(tar, "www/tag.txt", f"{marker}\n".encode())
        if variant != "unhealthy":
            _add_file(tar, "www/health", b"ok\n")
    return buffer.getvalue()


def build_test_image(
    client: DockerClient, ref: str, *, variant: str = "ok", marker: str | None = None
) -> str:
    """Import a test image under ``ref`` (no pull) and return its id; removed at scope end."""
    if variant not in VARIANT_CHANGES:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANT_CHANGES)}")
    repository, tag = docker.utils.parse_repository_tag(ref)
    output = client.api.import_image_from_data(
        rootfs_tar(variant, marker or ref),
        repository=repository,
        tag=tag or "latest",
        changes=COMMON_CHANGES + VARIANT_CHANGES[variant],
    )
    for item in json_stream([output]):
        if "error" in item:
            raise RuntimeError(f"import of {ref} failed: {item['error']}")
    image_id: str = client.images.get(ref).id or ""
    track("image", client, image_id)
    return image_id


def push_test_image(
    client: DockerClient,
    registry: RegistryAccess,
    repo: str,
    tag: str,
    *,
    variant: str = "ok",
    marker: str | None = None,
) -> str:
    """Build ``<registry.host>/<repo>:<tag>``, push it with the registry's login, return its digest.

    Raises ``PushError`` when the stream carries an error, because the Engine reports failed
    pushes (wrong password, refused scope) only there.
    """
    repository = f"{registry.host}/{repo}"
    build_test_image(client, f"{repository}:{tag}", variant=variant, marker=marker)
    client.login(username=registry.username, password=registry.password, registry=registry.host)
    stream = client.images.push(repository, tag=tag, stream=True, decode=True)
    return _digest_from_push(f"{repository}:{tag}", stream)


def push_same_image(
    client: DockerClient, registry: RegistryAccess, repo: str, tags: list[str]
) -> str:
    """Build one image and push it under every tag in `tags`: one manifest digest for all (a
    build per tag would differ in its creation time). Returns that digest."""
    repository = f"{registry.host}/{repo}"
    digest = push_test_image(client, registry, repo, tags[0], marker="same-content")
    image = client.images.get(f"{repository}:{tags[0]}")
    for tag in tags[1:]:
        image.tag(repository, tag)
        stream = client.images.push(repository, tag=tag, stream=True, decode=True)
        if _digest_from_push(f"{repository}:{tag}", stream) != digest:
            raise PushError(f"{repository}:{tag} got another digest than {tags[0]}")
    return digest


def _digest_from_push(ref: str, stream: Any) -> str:
    """Consume the whole push stream; return the manifest digest or raise its error."""
    digest = None
    for item in stream:
        if "error" in item:
            raise PushError(f"push of {ref} failed: {item['error']}")
        aux = item.get("aux") or {}
        found = _PUSH_DIGEST.search(str(item.get("status", "")))
        digest = aux.get("Digest") or (found.group(1) if found else None) or digest
    if digest is None:
        raise PushError(f"push of {ref} reported no digest")
    return str(digest)
