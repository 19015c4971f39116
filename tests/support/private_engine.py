"""A second, private Docker Engine that a test may stop and start (never the shared one).

It has its own data root, exec root, pid file and unix socket under a short folder of /tmp (the
engine's containerd socket lives under the exec root, and unix socket paths are short), and its
default bridge is one created here beforehand with an unused 10.x address: never
`--bridge=none` or `--default-address-pool`, which would delete the host's `docker0`. Networks a
test needs on it are made with `network()`, each with an explicit unused subnet, because the
engine's own address pools know nothing of the shared engine's networks. `close()` removes
everything: containers, networks (and their host bridges), the process, the folders, the bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
from docker import DockerClient

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    found = []
    for line in out.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            found.append(ipaddress.ip_network(fields[fields.index("inet") + 1], strict=False))
    return found


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no interface of this host uses."""
    used = _used_networks()
    for _ in range(200):
        candidate = ipaddress.ip_network(
            f"10.{200 + secrets.randbelow(8)}.{secrets.randbelow(256)}.0/24"
        )
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free 10.200.0.0/13 subnet for a private engine")


class PrivateEngine:
    """One private dockerd; `start()`/`stop()` as often as a test needs, `close()` once."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dwe-", dir="/tmp"))
        self.bridge = f"dwe{secrets.token_hex(4)}"  # at most 15 characters
        self.url = f"unix://{self.root / 'docker.sock'}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.root / "dockerd.log"
        self._host_bridges: list[str] = []
        self._client: DockerClient | None = None
        subnet = free_subnet()
        gateway = f"{next(subnet.hosts())}/{subnet.prefixlen}"
        _ip("link", "add", "name", self.bridge, "type", "bridge")
        _ip("addr", "add", gateway, "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, timeout=60)
        return self._client

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start dockerd and return once it answers."""
        assert not self.running
        command = [
            "dockerd",
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "-H", self.url,
            "--bridge", self.bridge,
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--storage-driver", "vfs",
            "--shutdown-timeout", "2",
        ]  # fmt: skip
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if not self.running or time.monotonic() > deadline:
                raise RuntimeError(f"private dockerd did not start: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it, and wait until the process is gone (the
        client stays usable: it connects again once the engine is started again)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(STOP_TIMEOUT)

    def network(self, name: str) -> None:
        """A bridge network on this engine with an unused subnet of its own."""
        subnet = free_subnet()
        pool = docker.types.IPAMPool(subnet=str(subnet), gateway=str(next(subnet.hosts())))
        network = self.client.networks.create(
            name, ipam=docker.types.IPAMConfig(pool_configs=[pool])
        )
        self._host_bridges.append(f"br-{(network.id or '')[:12]}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Remove everything this engine made, stop it, then its bridges and folders."""
        try:
            if self.running:
                self._empty()
        finally:
            self.stop()
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT)
            for bridge in [*self._host_bridges, self.bridge]:
                with contextlib.suppress(subprocess.CalledProcessError):
                    _ip("link", "del", bridge)
            _unmount_below(self.root)
            shutil.rmtree(self.root, ignore_errors=True)

    def _empty(self) -> None:
        for container in self.client.containers.list(all=True):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for network in self.client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                with contextlib.suppress(docker.errors.NotFound):
                    network.remove()

    def _answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:  # not listening yet
            if self._client is not None:
                self._client.close()
            self._client = None
            return False


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _unmount_below(root: Path) -> None:
    """Mounts the engine may have left under `root` (netns, shm) after an unclean stop."""
    prefix = str(root) + os.sep
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
