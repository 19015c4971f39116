"""The Docker adapter's pure parts: ContainerSpec → kwargs by equality, labels, parsers, events."""

from __future__ import annotations

import threading
from typing import Any

import docker.errors
import pytest
import requests.exceptions
import urllib3.exceptions

from services.docker_engine import events, failures, mapping, spec_to_create_kwargs
from services.errors import CannotConnect, Conflict, InvalidAuth, NotFound, Timeout, UpstreamError
from services.types import (
    LABEL_MANAGED,
    RESYNC_ACTION,
    ContainerSpec,
    ImageHealthcheck,
    Mount,
    PullUpdate,
    labels_for,
)

LABELS = labels_for("web-app", "dev", "dev-42", 7, 19)


def test_labels_for_names_everything_reconciliation_needs() -> None:
    assert LABELS == {
        "docker-watcher.managed": "true",
        "docker-watcher.project": "web-app",
        "docker-watcher.stage": "dev",
        "docker-watcher.tag": "dev-42",
        "docker-watcher.instance": "7",
        "docker-watcher.deploy": "19",
    }
    assert LABEL_MANAGED == "docker-watcher.managed"


def test_full_spec_becomes_low_level_create_kwargs() -> None:
    spec = ContainerSpec(
        name="web-app-dev-dev-42",
        image="git.example.com/alexei/web-app@sha256:abc",
        env={"NODE_ENV": "development", "EMPTY": ""},
        labels=LABELS,
        network="staging-net",
        network_aliases=("web-app-dev-dev-42", "stage-dev-web-app"),
        mounts=(
            Mount("/data/web/uploads", "/app/uploads"),
            Mount("cache-vol", "/cache", read_only=True, kind="volume"),
        ),
        port=3000,
        command=("node", "server.js"),
    )
    assert spec_to_create_kwargs(spec) == {
        "image": "git.example.com/alexei/web-app@sha256:abc",
        "name": "web-app-dev-dev-42",
        "command": ["node", "server.js"],
        "environment": ["NODE_ENV=development", "EMPTY="],
        "labels": LABELS,
        "ports": [3000],
        "detach": True,
        "use_config_proxy": False,
        "host_config": {
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            "Mounts": [
                {"Type": "bind", "Source": "/data/web/uploads", "Target": "/app/uploads",
                 "ReadOnly": False},
                {"Type": "volume", "Source": "cache-vol", "Target": "/cache", "ReadOnly": True},
            ],
            "NetworkMode": "staging-net",
        },
        "networking_config": {
            "EndpointsConfig": {
                "staging-net": {"Aliases": ["web-app-dev-dev-42", "stage-dev-web-app"]}
            }
        },
    }  # fmt: skip


def test_minimal_spec_keeps_the_image_command_and_joins_no_network() -> None:
    kwargs = spec_to_create_kwargs(ContainerSpec(name="n", image="img:1", restart_policy="no"))
    assert kwargs["command"] is None and kwargs["ports"] is None
    assert kwargs["environment"] == [] and kwargs["labels"] == {}
    assert kwargs["host_config"] == {
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "Mounts": [],
    }
    assert "networking_config" not in kwargs


def test_spec_copies_its_mappings_so_later_caller_edits_do_not_leak() -> None:
    env = {"A": "1"}
    spec = ContainerSpec(name="n", image="i", env=env)
    env["A"] = "changed"
    assert spec.env == {"A": "1"}
    with pytest.raises(TypeError):
        spec.env["A"] = "x"  # type: ignore[index]
    assert spec == ContainerSpec(name="n", image="i", env={"A": "1"})


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("unauthorized: authentication required", InvalidAuth),
        ('Head "http://r/v2/a/manifests/1": no basic auth credentials', InvalidAuth),
        ("manifest for r/a:nope not found: manifest unknown: manifest unknown", NotFound),
        ('Get "http://127.0.0.1:5098/v2/": dial tcp 127.0.0.1:5098: connect: connection refused',
         CannotConnect),
        ("lookup nonexistent.invalid on 10.0.0.53:53: no such host", CannotConnect),
        ("net/http: request canceled (Client.Timeout exceeded while awaiting headers)", Timeout),
        ("failed to register layer: no space left on device", UpstreamError),
    ],
)  # fmt: skip
def test_pull_failures_are_classified_from_the_engine_message(message: str, kind: type) -> None:
    error = failures.pull_error("r/a:1", message)
    assert type(error) is kind
    assert str(error).startswith("Pulling r/a:1 failed: ") and message in str(error)


def test_image_attrs_become_image_info() -> None:
    attrs = {
        "Id": "sha256:img",
        "RepoTags": ["127.0.0.1:5000/demo/app:dev-1"],
        "RepoDigests": ["other/app@sha256:zzz", "127.0.0.1:5000/demo/app@sha256:abc"],
        "Config": {
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
            "Healthcheck": {"Test": ["CMD-SHELL", "wget -q -O- x"], "Interval": 1_000_000_000},
            "Labels": {"org.opencontainers.image.title": "demo"},
            "Env": ["PATH=/bin", "EMPTY=", "X=a=b"],
        },
    }
    info = mapping.image_info("127.0.0.1:5000/demo/app:dev-1", attrs)
    assert info.digest == "sha256:abc"
    assert info.exposed_ports == (53, 8080)
    assert info.healthcheck == ImageHealthcheck(test=("CMD-SHELL", "wget -q -O- x"), interval=1.0)
    assert info.has_healthcheck
    assert info.env == {"PATH": "/bin", "EMPTY": "", "X": "a=b"}
    assert info.labels == {"org.opencontainers.image.title": "demo"}


def test_image_without_registry_or_with_healthcheck_none() -> None:
    attrs = {"Id": "sha256:i", "Config": {"Healthcheck": {"Test": ["NONE"]}, "Labels": None}}
    info = mapping.image_info("local:latest", attrs)
    assert (info.digest, info.healthcheck, info.has_healthcheck) == (None, None, False)
    assert mapping.digest_for("nginx:1", ("nginx@sha256:n",)) == "sha256:n"
    assert mapping.digest_for("docker.io/library/nginx", ("nginx@sha256:n",)) == "sha256:n"


def test_raw_events_become_engine_events_and_exec_noise_is_dropped() -> None:
    raw = {
        "Type": "container",
        "Action": "health_status: unhealthy",
        "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "i", **LABELS}},
        "timeNano": 1_700_000_000_500_000_000,
    }
    event = events.engine_event(raw)
    assert event is not None
    assert (event.action, event.health, event.name, event.container_id) == (
        "health_status", "unhealthy", "web", "abc"
    )  # fmt: skip
    assert event.labels == LABELS
    assert event.time is not None and event.time.timestamp() == 1_700_000_000.5
    die = {**raw, "Action": "die", "Actor": {"ID": "abc", "Attributes": {"exitCode": "137"}}}
    assert events.engine_event(die).exit_code == 137  # type: ignore[union-attr]
    assert events.engine_event({**raw, "Action": "exec_start: wget"}) is None
    assert events.engine_event({**raw, "Type": "network"}) is None


def test_pull_update_reads_as_a_log_line() -> None:
    assert str(PullUpdate("Downloading", "03beb15e", 100, 400)) == (
        "03beb15e: Downloading (100/400 bytes)"
    )
    assert str(PullUpdate("Digest: sha256:abc")) == "Digest: sha256:abc"


def test_inspect_attrs_become_container_info() -> None:
    attrs = {
        "Id": "abc",
        "Name": "/web-dev-1",
        "Image": "sha256:img",
        "RestartCount": 2,
        "Config": {"Image": "r/web:dev-1", "Labels": LABELS},
        "State": {
            "Status": "restarting",
            "ExitCode": 3,
            "StartedAt": "2026-05-01T12:00:00.123456789Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "unhealthy", "Log": [{"Output": "wget: 404\n"}]},
        },
        "NetworkSettings": {"Networks": {"staging-net": {"IPAddress": "172.20.0.5"},
                                         "down": {"IPAddress": ""}}},
    }  # fmt: skip
    info = mapping.container_info(attrs)
    assert (info.name, info.image, info.image_id, info.status) == (
        "web-dev-1", "r/web:dev-1", "sha256:img", "restarting"
    )  # fmt: skip
    assert (info.exit_code, info.restart_count, info.running) == (3, 2, False)
    assert info.labels[LABEL_MANAGED] == "true"
    assert (info.health, info.health_output) == ("unhealthy", "wget: 404")
    assert info.started_at is not None and info.started_at.microsecond == 123456
    assert info.finished_at is None
    assert info.ip_by_network == {"staging-net": "172.20.0.5"}
    running = mapping.container_info({**attrs, "State": {"Status": "running"}})
    assert (running.exit_code, running.health, running.running) == (None, None, True)


def test_connection_errors_are_reduced_to_their_root_cause() -> None:
    inner = FileNotFoundError(2, "No such file or directory")
    wrapped = ConnectionError("Connection aborted.", inner)
    try:
        raise RuntimeError("Error while fetching server API version") from wrapped
    except RuntimeError as exc:
        assert failures.root_cause(exc) == "[Errno 2] No such file or directory"


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), Timeout),
        (requests.exceptions.ConnectTimeout("connect timed out"), CannotConnect),
        (requests.exceptions.ConnectionError("refused"), CannotConnect),
        (urllib3.exceptions.ProtocolError("Connection broken"), CannotConnect),
        (ConnectionResetError(104, "Connection reset by peer"), CannotConnect),
        (docker.errors.APIError("x", explanation="name in use", response=None), UpstreamError),
        (docker.errors.NotFound("x", explanation="No such container: c"), NotFound),
        (docker.errors.DockerException("odd"), UpstreamError),
    ],
)
def test_third_party_errors_become_ours(raised: Exception, kind: type) -> None:
    where = "unix:///nonexistent.sock"
    translated = failures.translate("stopping c", raised, where=where, timeout=60)
    assert type(translated) is kind
    assert failures.translate("stopping c", ValueError("our bug"), where=where, timeout=60) is None


def test_conflict_status_becomes_conflict() -> None:
    response = requests.Response()
    response.status_code = 409
    error = docker.errors.APIError("x", response=response, explanation="name already in use")
    assert str(failures.api_error("creating web", error)) == "creating web: name already in use"
    assert type(failures.api_error("creating web", error)) is Conflict


class FakeStream:
    """Like docker-py's CancellableStream: a live one blocks after its items until closed."""

    def __init__(self, items: list[dict[str, Any]], *, live: bool) -> None:
        self.items, self.live, self.closed = list(items), live, threading.Event()

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.items:
            return self.items.pop(0)
        if self.live:
            self.closed.wait(5)
        raise StopIteration

    def close(self) -> None:
        self.closed.set()


class FakeClient:
    """Serves scripted event streams (the last one live) or connection failures, in order."""

    def __init__(self, *scripts: list[dict[str, Any]] | Exception) -> None:
        self.scripts = list(scripts)
        self.calls: list[dict[str, Any]] = []
        self.api = self

    def events(self, **kwargs: Any) -> FakeStream:
        self.calls.append(kwargs)
        script = self.scripts.pop(0)
        if isinstance(script, Exception):
            raise script
        return FakeStream(script, live=not self.scripts)

    def close(self) -> None:
        pass


def raw_event(action: str, nanos: int) -> dict[str, Any]:
    actor = {"ID": "c1", "Attributes": {"name": "web", **LABELS}}
    return {"Type": "container", "Action": action, "Actor": actor, "timeNano": nanos}


def test_event_pump_reconnects_resumes_and_asks_for_a_resync() -> None:
    fake = FakeClient(
        [raw_event("start", 1_000_000_000), raw_event("exec_start: wget", 1_500_000_000)],
        docker.errors.DockerException("engine restarting"),  # the stream dropped, engine down
        [raw_event("die", 2_000_000_000)],
    )
    seen: list[Any] = []
    three = threading.Event()

    def deliver(event: Any) -> None:
        seen.append(event)
        if len(seen) == 3:
            three.set()

    labels = ["docker-watcher.managed=true"]
    pump = events.EventPump(lambda: fake, deliver, labels, since=0.5, min_delay=0.01)
    thread = threading.Thread(target=pump.run, daemon=True)
    thread.start()
    assert three.wait(5)
    pump.stop()  # closes the live stream, as docker-py's close() does
    thread.join(5)
    assert not thread.is_alive()
    assert [e.action for e in seen] == ["start", RESYNC_ACTION, "die"]
    assert [c["since"] for c in fake.calls] == ["0.500000000", "1.500000000", "1.500000000"]
    assert fake.calls[0]["filters"] == {"type": ["container"], "label": labels}
