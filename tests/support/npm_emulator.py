"""A stand-in for Nginx Proxy Manager's HTTP API (v2.15.1 by default), backed by a real nginx.

It follows `reference/npm-api.md`: the same routes, status codes, error shapes and validation, a
one-day JWT, soft delete, and NPM's nginx sequence (test, write `<id>.conf`, test again, record
`meta.nginx_online`, `nginx -s reload`). Each enabled host becomes a real server block, so a
request with `Host: <domain>` to `nginx_port` reaches the upstream the host points at.

Fault hooks let tests play NPM being down, answering an error once, nginx refusing a config,
and time passing (token expiry). The stdlib HTTP server runs in daemon threads on 127.0.0.1; all
state sits behind one lock, as NPM's single Node process serializes its work too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

EMAIL = "watcher@example.com"
PASSWORD = "npm-emulator-password"
TOKEN_LIFETIME = 86400
GENERATION_HOST = "generation.npm-emulator.invalid"
_FORBIDDEN_IN_DOMAIN = set("&| @!#%^();:/\\{}=+?<>,~'\"`")
_BOOL_FIELDS = (
    "ssl_forced",
    "hsts_enabled",
    "hsts_subdomains",
    "http2_support",
    "block_exploits",
    "caching_enabled",
    "allow_websocket_upgrade",
    "enabled",
)
_LOCATION_REQUIRED = ("path", "forward_scheme", "forward_host", "forward_port")
_EXPANDABLE = ("owner", "certificate", "access_list")
Json = Any
Checker = Callable[[Any, str], Any]


class ApiError(Exception):
    """An answer in NPM's error shape `{"error": {"code", "message", ...}}`."""

    def __init__(self, status: int, message: str, i18n: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.i18n = i18n

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.i18n is not None:
            error["message_i18n"] = self.i18n
        return {"error": error}


def _version_tuple(text: str) -> tuple[int, int, int]:
    major, minor, revision = (int(part) for part in text.split("."))
    return major, minor, revision


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (for nginx, which binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- validation
# Messages follow ajv v8 (`errorsText`) as NPM >= 2.12 reports them: "data/<field> must ...".


def _boolean(value: Any, path: str) -> bool:
    """ajv's coerceTypes: "true"/"false", 1/0 and null become booleans."""
    if isinstance(value, bool):
        return value
    coerced = {"true": True, "false": False, 1: True, 0: False, None: False}
    if isinstance(value, str | int | type(None)) and value in coerced:
        return coerced[value]
    raise ApiError(400, f"{path} must be boolean")


def _integer(minimum: int, maximum: int | None) -> Checker:
    def check(value: Any, path: str) -> int:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"{path} must be integer")
        if value < minimum:
            raise ApiError(400, f"{path} must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise ApiError(400, f"{path} must be <= {maximum}")
        return value

    return check


def _string(min_length: int, max_length: int | None) -> Checker:
    def check(value: Any, path: str) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ApiError(400, f"{path} must be string")
        if len(value) < min_length:
            raise ApiError(400, f"{path} must NOT have fewer than {min_length} characters")
        if max_length is not None and len(value) > max_length:
            raise ApiError(400, f"{path} must NOT have more than {max_length} characters")
        return value

    return check


def _enum(*allowed: str) -> Checker:
    def check(value: Any, path: str) -> str:
        if value not in allowed:
            raise ApiError(400, f"{path} must be equal to one of the allowed values")
        return str(value)

    return check


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{path} must be object")
    return value


def _certificate_id(value: Any, path: str) -> int | str:
    if value == "new":
        return "new"
    return _integer(0, None)(value, path)  # type: ignore[no-any-return]


def _domain_names(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, f"{path} must be array")
    if not 1 <= len(value) <= 100:
        bound = "fewer than 1" if not value else "more than 100"
        raise ApiError(400, f"{path} must NOT have {bound} items")
    for index, name in enumerate(value):
        if not isinstance(name, str):
            raise ApiError(400, f"{path}/{index} must be string")
        if not name or _FORBIDDEN_IN_DOMAIN & set(name):
            raise ApiError(
                400, f'{path}/{index} must match pattern "^[^&| @!#%^();:/\\\\}}{{=+?<>,~\'"`]+$"'
            )
        if name in value[:index]:
            first = value.index(name)
            raise ApiError(
                400,
                f"{path} must NOT have duplicate items "
                f"(items ## {index} and {first} are identical)",
            )
    return list(value)


_LOCATION_FIELDS: dict[str, Checker] = {
    "id": lambda value, _path: value,
    "path": _string(1, None),
    "forward_scheme": _enum("http", "https"),
    "forward_host": _string(1, 255),
    "forward_port": _integer(1, 65535),
    "forward_path": _string(0, None),
    "advanced_config": _string(0, None),
}


def _check_object(
    data: Any, path: str, fields: dict[str, Checker], required: tuple[str, ...]
) -> dict[str, Any]:
    """Type, required, additionalProperties, then each property: ajv's order, first error wins."""
    if not isinstance(data, dict):
        raise ApiError(400, f"{path} must be object")
    for name in required:
        if name not in data:
            raise ApiError(400, f"{path} must have required property '{name}'")
    if set(data) - set(fields):
        raise ApiError(400, f"{path} must NOT have additional properties")
    return {name: fields[name](value, f"{path}/{name}") for name, value in data.items()}


def _locations(value: Any, path: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ApiError(400, f"{path} must be array")
    return [
        _check_object(item, f"{path}/{i}", _LOCATION_FIELDS, _LOCATION_REQUIRED)
        for i, item in enumerate(value)
    ]


def host_fields(version: tuple[int, int, int]) -> dict[str, Checker]:
    """The writable proxy-host fields of this NPM version and how each is checked."""
    fields: dict[str, Checker] = {
        "domain_names": _domain_names,
        "forward_scheme": _enum("http", "https"),
        "forward_host": _string(1, 255),
        "forward_port": _integer(1, 65535),
        "certificate_id": _certificate_id,
        "access_list_id": _integer(0, None),
        "advanced_config": _string(0, None),
        "meta": _object,
        "locations": _locations,
    }
    fields.update(dict.fromkeys(_BOOL_FIELDS, _boolean))
    if version >= (2, 14, 0):
        fields["trust_forwarded_proto"] = _boolean
    return fields


def host_defaults(version: tuple[int, int, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = dict.fromkeys(_BOOL_FIELDS, False)
    defaults.update(
        certificate_id=0,
        access_list_id=0,
        advanced_config="",
        enabled=True,
        meta={},
        locations=None,
    )
    if version >= (2, 14, 0):
        defaults["trust_forwarded_proto"] = False
    return defaults


def clean_ssl_flags(data: dict[str, Any], existing: dict[str, Any]) -> None:
    """NPM's cleanSslHstsData: fill from the stored row, then drop flags that make no sense."""
    for name, default in (
        ("certificate_id", 0),
        ("ssl_forced", False),
        ("http2_support", False),
        ("hsts_enabled", False),
        ("hsts_subdomains", False),
    ):
        data.setdefault(name, existing.get(name, default))
    if not data["certificate_id"]:
        data["ssl_forced"] = data["http2_support"] = False
    if not data["ssl_forced"]:
        data["hsts_enabled"] = False
    if not data["hsts_enabled"]:
        data["hsts_subdomains"] = False


# --------------------------------------------------------------------------- nginx


class NginxRunner:
    """Our own nginx master under a temp prefix, listening on 127.0.0.1 only."""

    def __init__(self, root: Path, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.port = free_port()
        self.generation = 0
        self.conf = root / "conf" / "nginx.conf"
        self.hosts_dir = root / "conf" / "proxy_host"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    def _args(self, *extra: str) -> list[str]:
        errors = f"{self.root}/logs/error.log"
        return [self.binary, "-c", str(self.conf), "-p", f"{self.root}/", "-e", errors, *extra]

    def _write_main_conf(self) -> None:
        for sub in ("conf/proxy_host", "logs", "temp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # workers run as nobody when we are root
        temp, flags = self.root / "temp", self._build_flags()
        temp_paths = "".join(  # nginx-light may lack some modules, and so their directives
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            if f"--without-http_{kind}_module" not in flags
        )
        self.conf.write_text(
            "daemon off;\nworker_processes 1;\n"
            f"pid {self.root}/nginx.pid;\nerror_log {self.root}/logs/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n  access_log off;\n  server_names_hash_bucket_size 1024;\n"
            f"{temp_paths}"
            f"  server {{ listen 127.0.0.1:{self.port} default_server; server_name _;"
            " return 404; }\n"
            f"  include {self.root}/conf/generation.conf;\n"
            f"  include {self.hosts_dir}/*.conf;\n}}\n"
        )
        self._write_generation()

    def _build_flags(self) -> str:
        result = subprocess.run([self.binary, "-V"], capture_output=True, text=True, check=False)
        return result.stderr

    def _write_generation(self) -> None:
        (self.root / "conf" / "generation.conf").write_text(
            f"server {{ listen 127.0.0.1:{self.port}; server_name {GENERATION_HOST}; "
            f'location / {{ return 200 "{self.generation} $pid"; }} }}\n'
        )

    def start(self) -> None:
        self._write_main_conf()
        self._stderr = (self.root / "logs" / "stderr.log").open("wb")
        self._proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.wait_current(deadline=time.monotonic() + 10)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Fast shutdown (SIGTERM) and wait; SIGKILL only if nginx ignores it."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def test(self) -> str | None:
        """`nginx -t`; None when fine, else nginx's complaint (as NPM records it)."""
        result = subprocess.run(self._args("-t", "-q"), capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return None
        lines = [
            line for line in result.stderr.splitlines() if "/var/log/nginx/error.log" not in line
        ]
        return "\n".join(lines).strip() or f"nginx -t exited with {result.returncode}"

    def host_file(self, host_id: int) -> Path:
        return self.hosts_dir / f"{host_id}.conf"

    def reload(self) -> bool:
        """`nginx -s reload` after bumping the generation marker (graceful and asynchronous)."""
        self.generation += 1
        self._write_generation()
        result = subprocess.run(self._args("-s", "reload"), capture_output=True, check=False)
        return result.returncode == 0 and self.running

    def _accepting_workers(self) -> set[int]:
        """Pids of our master's workers that still accept (not "is shutting down")."""
        assert self._proc is not None
        master, workers = str(self._proc.pid), set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[1] != master:
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                if title.startswith("nginx: worker process") and "shutting down" not in title:
                    workers.add(int(entry.name))
        return workers

    def _marker(self) -> tuple[int, int] | None:
        """(generation, worker pid) from the marker server; http.client keeps each poll cheap."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/", headers={"Host": GENERATION_HOST, "Connection": "close"})
            generation, pid = conn.getresponse().read().decode().split()
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()
        return int(generation), int(pid)

    def wait_current(self, deadline: float) -> None:
        """Poll until the only accepting worker serves the latest generation, or fail."""
        while True:
            if not self.running:
                raise RuntimeError(f"nginx is not running:\n{self.logs()}")
            marker = self._marker()
            if marker and marker[0] == self.generation and self._accepting_workers() == {marker[1]}:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx did not apply generation {self.generation}: {marker}")
            time.sleep(0.02)

    def logs(self) -> str:
        parts = [p.read_text(errors="replace") for p in self.root.glob("logs/*.log") if p.is_file()]
        return "\n".join(parts)[-4000:]


def render_host_config(
    host: dict[str, Any], port: int, resolve: Callable[[str], str], *, broken: bool
) -> str:
    """NPM's proxy_host template, cut to plain HTTP (no certificates are served here).

    Names are resolved now (NPM's nginx asks Docker's DNS per request); a name the resolver
    cannot answer is written as is, which nginx answers with 502 like an unknown container.
    """
    upstream = _resolved(resolve, host["forward_host"])
    names = " ".join(host["domain_names"])
    websocket = (
        "    proxy_http_version 1.1;\n    proxy_set_header Upgrade $http_upgrade;\n"
        "    proxy_set_header Connection $http_connection;\n"
        if host["allow_websocket_upgrade"]
        else ""
    )
    locations = "".join(
        f"  location {loc['path']} {{\n    proxy_pass {loc['forward_scheme']}://"
        f"{_resolved(resolve, loc['forward_host'])}:"
        f"{loc['forward_port']}{loc.get('forward_path', '')};\n  }}\n"
        for loc in host["locations"] or []
    )
    return (
        f"# {names}\nserver {{\n  set $forward_scheme {host['forward_scheme']};\n"
        f'  set $server "{upstream}";\n  set $port {host["forward_port"]};\n'
        f"  listen 127.0.0.1:{port};\n  server_name {names};\n"
        f"{'  npm_emulator_broken_directive on;' if broken else ''}\n"
        f"{host['advanced_config']}\n{locations}"
        "  location / {\n    proxy_set_header Host $host;\n"
        "    proxy_set_header X-Forwarded-Scheme $scheme;\n"
        "    proxy_set_header X-Forwarded-Proto $scheme;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    proxy_set_header X-Real-IP $remote_addr;\n"
        f"{websocket}"
        "    proxy_pass $forward_scheme://$server:$port$request_uri;\n  }\n}\n"
    )


def docker_resolver(client: Any, network: str) -> Callable[[str], str]:
    """A `resolve` that answers like Docker's DNS on `network`: the container's address there.

    `client` is a docker-py `DockerClient`. The host reaches bridge-network addresses directly,
    so our nginx on 127.0.0.1 can forward to containers the way NPM's container does by name.
    """

    def resolve(name: str) -> str:
        networks = client.containers.get(name).attrs["NetworkSettings"]["Networks"]
        return str(networks[network]["IPAddress"]) or name

    return resolve


def _resolved(resolve: Callable[[str], str], name: str) -> str:
    try:
        return resolve(name)
    except Exception:  # a test resolver may raise anything for an unknown container
        return name


# --------------------------------------------------------------------------- the API


class Request:
    """What the API needs from one HTTP request."""

    def __init__(self, method: str, target: str, authorization: str | None, body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.authorization = authorization
        self.body = body

    def json(self) -> Json:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Unexpected token in JSON at position 0") from None


_ID = r"/api/nginx/proxy-hosts/(\d+)"


class NpmApi:
    """NPM's database and route logic. Every public call runs under `lock`."""

    def __init__(
        self,
        *,
        version: tuple[int, int, int],
        email: str,
        password: str,
        nginx: NginxRunner,
        resolve: Callable[[str], str],
        timestamp_style: Literal["sqlite", "iso"],
    ) -> None:
        self.lock = threading.RLock()
        self.version = version
        self.email, self.password = email, password
        self.nginx, self.resolve = nginx, resolve
        self.timestamp_style = timestamp_style
        self.clock_offset = 0.0
        self.two_factor = False
        self.nginx_config_fails = False
        self.rejected_configs: list[str] = []  # domains whose next config nginx refuses, once
        self.failing_reloads = 0
        self.hosts: dict[int, dict[str, Any]] = {}
        self.certificates: dict[int, dict[str, Any]] = {}
        self.other_domains: list[str] = []
        self.faults: list[tuple[int, str, str | None, str | None]] = []
        self.requests: list[tuple[str, str, Json]] = []
        self.logins = 0
        self.renewals = 0
        self.internal_errors: list[str] = []
        self._secret = secrets.token_bytes(32)
        self._created_at = self.now()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Json]]]] = [
            ("GET", re.compile(r"/api/?"), self._status),
            ("GET", re.compile(r"/api/schema"), self._schema),
            ("POST", re.compile(r"/api/tokens"), self._login),
            ("GET", re.compile(r"/api/tokens"), self._renew),
            ("GET", re.compile(r"/api/nginx/proxy-hosts"), self._list_hosts),
            ("POST", re.compile(r"/api/nginx/proxy-hosts"), self._create_host),
            ("GET", re.compile(_ID), self._get_host),
            ("PUT", re.compile(_ID), self._update_host),
            ("DELETE", re.compile(_ID), self._delete_host),
            ("POST", re.compile(_ID + r"/(enable|disable)"), self._toggle_host),
            ("GET", re.compile(r"/api/nginx/certificates"), self._list_certificates),
        ]

    # ------------------------------------------------------------------ plumbing

    def now(self) -> float:
        return time.time() + self.clock_offset

    def timestamp(self, epoch: float) -> str:
        moment = datetime.fromtimestamp(epoch, UTC)
        if self.timestamp_style == "iso":
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def handle(self, req: Request) -> tuple[int, Json]:
        with self.lock:
            self.requests.append((req.method, req.path, _safe_json(req.body)))
            try:
                self._inject_fault(req)
                return self._route(req)
            except ApiError as err:
                return err.status, err.body()
            except Exception:  # an emulator bug: answer like NPM, and let the fixture fail
                self.internal_errors.append(traceback.format_exc())
                return 500, ApiError(500, "Internal Error").body()

    def _inject_fault(self, req: Request) -> None:
        for index, (status, message, method, prefix) in enumerate(self.faults):
            if (method in (None, req.method)) and (prefix is None or req.path.startswith(prefix)):
                del self.faults[index]
                raise ApiError(status, message)

    def _route(self, req: Request) -> tuple[int, Json]:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                return handler(req, *match.groups())
        raise ApiError(404, f"Not Found - {req.path}")

    # ------------------------------------------------------------------ tokens

    def _decode(self, req: Request) -> dict[str, Any] | None:
        """The jwtdecode middleware: expired → 400, malformed or forged → 500, absent → None."""
        parts = (req.authorization or "").split(" ")
        if len(parts) < 2 or parts[0] != "Bearer" or not parts[1]:
            return None
        try:  # time claims are checked below against the emulator's own clock
            claims: dict[str, Any] = jwt.decode(
                parts[1],
                self._secret,
                ["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidTokenError:
            raise ApiError(500, "Internal Error") from None
        if claims["exp"] <= self.now():
            expired_at = datetime.fromtimestamp(claims["exp"], UTC).isoformat()
            i18n = {"name": "TokenExpiredError", "message": "jwt expired", "expiredAt": expired_at}
            raise ApiError(400, "Token has expired", i18n)
        return claims

    def _require(self, claims: dict[str, Any] | None, req: Request, *, missing: int = 404) -> None:
        """The permission check NPM runs after validation, with its odd no-token answers."""
        if claims is not None:
            return
        if missing == 500:
            raise ApiError(500, "Internal Error")
        if self.version < (2, 13, 0):
            raise ApiError(403, "Permission Denied")
        raise ApiError(404, f"Not Found - {req.path}")

    def issue_token(self) -> dict[str, str]:
        issued = int(self.now())
        claims = {
            "iss": "api",
            "attrs": {"id": 1},
            "scope": ["user"],
            "jti": secrets.token_hex(8),
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
        }
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        expires = datetime.fromtimestamp(issued + TOKEN_LIFETIME, UTC)
        return {
            "token": token,
            "expires": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def _login(self, req: Request) -> tuple[int, Json]:
        body = req.json()
        fields = {"identity": _string(1, None), "secret": _string(1, None), "scope": _enum("user")}
        if self.version < (2, 12, 0) and isinstance(body, dict):  # extra fields were ignored
            fields = dict.fromkeys(body, _any) | fields
        data = _check_object(body, "data", fields, ("identity", "secret"))
        if data["identity"].lower() != self.email.lower() or data["secret"] != self.password:
            raise ApiError(400, "Invalid email or password", "error.invalid-auth")
        if self.two_factor and self.version >= (2, 13, 6):
            return 200, {"requires_2fa": True, "challenge_token": secrets.token_urlsafe(24)}
        self.logins += 1
        return 200, self.issue_token()

    def _renew(self, req: Request) -> tuple[int, Json]:
        self._require(self._decode(req), req, missing=500)
        self.renewals += 1
        return 200, self.issue_token()

    # ------------------------------------------------------------------ unauthenticated

    def _status(self, _req: Request) -> tuple[int, Json]:
        major, minor, revision = self.version
        body: dict[str, Any] = {
            "status": "OK",
            "version": {"major": major, "minor": minor, "revision": revision},
        }
        if self.version >= (2, 13, 0):
            body["setup"] = True
        return 200, body

    def _schema(self, _req: Request) -> tuple[int, Json]:
        paths: dict[str, dict[str, Any]] = {}
        for method, pattern, handler in self._routes:
            summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            paths.setdefault(pattern.pattern, {})[method.lower()] = {"summary": summary}
        info = {
            "title": "Nginx Proxy Manager API (emulated)",
            "version": ".".join(map(str, self.version)),
        }
        return 200, {"openapi": "3.1.0", "info": info, "paths": paths}

    # ------------------------------------------------------------------ proxy hosts

    def _expand(self, req: Request) -> tuple[str, ...]:
        wanted = [
            part for value in req.query.get("expand", []) for part in value.split(",") if part
        ]
        for index, name in enumerate(wanted):
            if name not in _EXPANDABLE:
                raise ApiError(
                    400, f"data/expand/{index} must be equal to one of the allowed values"
                )
        return tuple(wanted)

    def _present(self, row: dict[str, Any], expand: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            json.dumps({k: v for k, v in row.items() if k != "is_deleted"})
        )
        out["created_on"] = self.timestamp(row["created_on"])
        out["modified_on"] = self.timestamp(row["modified_on"])
        if "owner" in expand:
            out["owner"] = self._owner()
        if "certificate" in expand:
            cert = self.certificates.get(row["certificate_id"])
            out["certificate"] = self._present_certificate(cert) if cert else None
        if "access_list" in expand:
            out["access_list"] = None
        return out

    def _owner(self) -> dict[str, Any]:
        stamp = self.timestamp(self._created_at)
        return {
            "id": 1,
            "created_on": stamp,
            "modified_on": stamp,
            "is_disabled": False,
            "email": self.email,
            "name": "Docker Watcher",
            "nickname": "watcher",
            "avatar": "",
            "roles": ["admin"],
        }

    def _live_host(self, host_id: str) -> dict[str, Any]:
        row = self.hosts.get(int(host_id))
        if row is None or row["is_deleted"]:
            raise ApiError(404, f"Not Found - {host_id}")
        return row

    def _check_domains_free(self, names: list[str], ignore_id: int | None) -> None:
        taken = {n.lower() for n in self.other_domains}
        for row in self.hosts.values():
            if not row["is_deleted"] and row["id"] != ignore_id:
                taken.update(n.lower() for n in row["domain_names"])
        for name in names:
            if name.lower() in taken:
                raise ApiError(400, f"{name} is already in use")

    def _list_hosts(self, req: Request) -> tuple[int, Json]:
        claims = self._decode(req)
        expand, query = self._expand(req), req.query.get("query", [None])[0]
        if query is not None and not query:
            raise ApiError(400, "data/query must NOT have fewer than 1 characters")
        self._require(claims, req)
        rows = [r for r in self.hosts.values() if not r["is_deleted"]]
        if query:
            rows = [r for r in rows if query.lower() in json.dumps(r["domain_names"]).lower()]
        rows.sort(key=lambda r: json.dumps(r["domain_names"]))
        return 200, [self._present(r, expand) for r in rows]

    def _get_host(self, req: Request, host_id: str) -> tuple[int, Json]:
        claims = self._decode(req)
        expand = self._expand(req)
        self._require(claims, req)
        return 200, self._present(self._live_host(host_id), expand)

    def _create_host(self, req: Request) -> tuple[int, Json]:
        claims = self._decode(req)
        required = ("domain_names", "forward_scheme", "forward_host", "forward_port")
        data = _check_object(req.json(), "data", host_fields(self.version), required)
        self._require(claims, req, missing=500)
        wants_new_certificate = data.get("certificate_id") == "new"
        if wants_new_certificate:  # NPM drops these and asks Let's Encrypt in the same request
            for name in (
                "certificate_id",
                "ssl_forced",
                "http2_support",
                "hsts_enabled",
                "hsts_subdomains",
            ):
                data.pop(name, None)
        self._check_domains_free(data["domain_names"], None)
        row = host_defaults(self.version) | data
        clean_ssl_flags(row, {})
        now = self.now()
        row.update(
            id=max(self.hosts, default=0) + 1,
            created_on=now,
            modified_on=now,
            owner_user_id=1,
            is_deleted=False,
        )
        self.hosts[row["id"]] = row
        if wants_new_certificate:  # Let's Encrypt is unreachable: a row without config remains
            raise ApiError(500, "Internal Error")
        response = self._present(row, _EXPANDABLE)  # read before configuring: no nginx_online
        if row["enabled"]:
            self._configure(row)
        return 201, response

    def _update_host(self, req: Request, host_id: str) -> tuple[int, Json]:
        claims = self._decode(req)
        data = _check_object(req.json(), "data", host_fields(self.version), ())
        if not data:
            raise ApiError(400, "data must NOT have fewer than 1 properties")
        self._require(claims, req)
        row = self._live_host(host_id)
        if "domain_names" in data:
            self._check_domains_free(data["domain_names"], row["id"])
        if data.get("certificate_id") == "new":
            raise ApiError(500, "Internal Error")
        clean_ssl_flags(data, row)
        row.update(data, modified_on=self.now())
        if row["enabled"]:  # a PUT {"enabled": false} leaves the config in nginx, as NPM does
            self._configure(row)
        return 200, self._present(row, _EXPANDABLE)

    def _delete_host(self, req: Request, host_id: str) -> tuple[int, Json]:
        self._require(self._decode(req), req)
        row = self._live_host(host_id)
        row.update(is_deleted=True, modified_on=self.now())
        self._unconfigure(row)
        return 200, True

    def _toggle_host(self, req: Request, host_id: str, verb: str) -> tuple[int, Json]:
        self._require(self._decode(req), req)
        row = self._live_host(host_id)
        enable = verb == "enable"
        if row["enabled"] == enable:
            raise ApiError(400, f"Host is already {verb}d")
        row.update(enabled=enable, modified_on=self.now())
        if enable:
            self._configure(row)
        else:
            self._unconfigure(row)
        return 200, True

    # ------------------------------------------------------------------ nginx, as NPM drives it

    def _configure(self, row: dict[str, Any]) -> None:
        """Test, write, test again, record the result in meta, reload; 500 if nginx is unusable."""
        if self.nginx.test() is not None:
            raise ApiError(500, "Internal Error")
        path = self.nginx.host_file(row["id"])
        broken = self.nginx_config_fails or self._rejected_once(row["domain_names"])
        path.write_text(render_host_config(row, self.nginx.port, self.resolve, broken=broken))
        error = self.nginx.test()
        row["meta"] = {**row["meta"], "nginx_online": error is None, "nginx_err": error}
        if error is not None:
            path.unlink()
        self._reload()

    def _rejected_once(self, names: list[str]) -> bool:
        wanted = {name.lower() for name in names}
        for index, domain in enumerate(self.rejected_configs):
            if domain in wanted:
                del self.rejected_configs[index]
                return True
        return False

    def _unconfigure(self, row: dict[str, Any]) -> None:
        self.nginx.host_file(row["id"]).unlink(missing_ok=True)
        self._reload()

    def _reload(self) -> None:
        """A failed reload answers 500 after the row and the config file already changed."""
        if self.failing_reloads > 0:
            self.failing_reloads -= 1
            raise ApiError(500, "Internal Error")
        if not self.nginx.reload():
            raise ApiError(500, "Internal Error")

    # ------------------------------------------------------------------ certificates

    def add_certificate(
        self, domain_names: list[str], expires_on: datetime, nice_name: str, provider: str
    ) -> int:
        cert_id = max(self.certificates, default=0) + 1
        now = self.now()
        self.certificates[cert_id] = {
            "id": cert_id,
            "created_on": now,
            "modified_on": now,
            "owner_user_id": 1,
            "provider": provider,
            "nice_name": nice_name,
            "domain_names": list(domain_names),
            "expires_on": expires_on.timestamp(),
            "meta": {},
        }
        return cert_id

    def _present_certificate(self, cert: dict[str, Any]) -> dict[str, Any]:
        out = dict(cert)
        for name in ("created_on", "modified_on", "expires_on"):
            out[name] = self.timestamp(cert[name])
        return out

    def _list_certificates(self, req: Request) -> tuple[int, Json]:
        claims = self._decode(req)
        self._expand(req)
        self._require(claims, req)
        certs = sorted(self.certificates.values(), key=lambda c: str(c["nice_name"]))
        return 200, [self._present_certificate(c) for c in certs]


def _any(value: Any, _path: str) -> Any:
    return value


def _safe_json(body: bytes) -> Json:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return body.decode(errors="replace")


# --------------------------------------------------------------------------- HTTP front


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, emulator: NpmEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections cut by `down()` or `stop()` are expected; stay quiet about them."""

    def drop_connections(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients wait for
    # the delayed ACK (~40 ms a request) — a stall real NPM (Node) does not have.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        if emulator.down_mode == "502":
            self._send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
            return
        req = Request(self.command, self.path, self.headers.get("Authorization"), body)
        status, payload = emulator.api.handle(req)
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()


class _ServerThread:
    """One `_Server` on a fixed port in a daemon thread; restartable on the same port."""

    def __init__(self, emulator: NpmEmulator, port: int = 0) -> None:
        self._server = _Server(port, emulator)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- the facade


EmulatorFactory = Callable[..., "NpmEmulator"]


class NpmEmulator:
    """NPM for tests: `url` for the API, `nginx_port` for traffic, hooks for faults and time."""

    def __init__(
        self,
        *,
        version: str = "2.15.1",
        resolve: Callable[[str], str] = lambda name: name,
        email: str = EMAIL,
        password: str = PASSWORD,
        timestamp_style: Literal["sqlite", "iso"] = "sqlite",
        nginx_binary: str | None = None,
    ) -> None:
        binary = (
            nginx_binary
            or os.environ.get("NGINX_BIN")
            or shutil.which("nginx")
            or "/usr/sbin/nginx"
        )
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed: apt-get install -y nginx-light")
        self.email, self.password = email, password
        self._root = Path(tempfile.mkdtemp(prefix="npm-emulator-"))
        self.nginx = NginxRunner(self._root, binary)
        self.api = NpmApi(
            version=_version_tuple(version),
            email=email,
            password=password,
            nginx=self.nginx,
            resolve=resolve,
            timestamp_style=timestamp_style,
        )
        self.down_mode: Literal["refuse", "502"] | None = None
        self._front: _ServerThread | None = None
        self._port = 0
        self._proxy_client: httpx.Client | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> NpmEmulator:
        """Start nginx, then the API server; on failure stop whatever already runs."""
        try:
            self.nginx.start()
            self._front = _ServerThread(self)
        except BaseException:
            self.stop()
            raise
        self._port = self._front.port
        return self

    def stop(self) -> None:
        """Stop the API server and nginx, and remove the temp prefix."""
        if self._front is not None:
            self._front.stop()
            self._front = None
        if self._proxy_client is not None:
            self._proxy_client.close()
            self._proxy_client = None
        self.nginx.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> NpmEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def nginx_port(self) -> int:
        return self.nginx.port

    # ------------------------------------------------------------------ fault and time hooks

    def down(self, mode: Literal["refuse", "502"] = "refuse") -> None:
        """NPM unreachable: the port refuses connections, or a proxy in front answers 502."""
        self.down_mode = mode
        if mode == "refuse" and self._front is not None:
            self._front.stop()
            self._front = None

    def up(self) -> None:
        """Back on the same port."""
        self.down_mode = None
        if self._front is None:
            self._front = _ServerThread(self, self._port)

    def fail_next(
        self,
        status: int,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` matching API requests answer `{"error": {status, message}}`."""
        with self.api.lock:
            self.api.faults.extend([(status, message, method, path)] * times)

    @property
    def nginx_config_fails(self) -> bool:
        return self.api.nginx_config_fails

    @nginx_config_fails.setter
    def nginx_config_fails(self, value: bool) -> None:
        """While True, configs written for hosts fail `nginx -t` (meta.nginx_online = false)."""
        with self.api.lock:
            self.api.nginx_config_fails = value

    def reject_next_config(self, domain: str) -> None:
        """The next config written for the host serving `domain` fails `nginx -t`: NPM still
        answers 200/201, records `meta.nginx_online: false` with nginx's error and removes that
        host's config (a host that served before stops serving), as it does for a host whose
        advanced config or certificate nginx cannot load."""
        with self.api.lock:
            self.api.rejected_configs.append(domain.lower())

    def fail_next_reload(self, times: int = 1) -> None:
        """The next reloads fail: NPM answers 500 although the host row was already written."""
        with self.api.lock:
            self.api.failing_reloads += times

    @property
    def resolve(self) -> Callable[[str], str]:
        return self.api.resolve

    @resolve.setter
    def resolve(self, resolver: Callable[[str], str]) -> None:
        """How `forward_host` becomes an address in written configs (e.g. `docker_resolver`)."""
        with self.api.lock:
            self.api.resolve = resolver

    @property
    def two_factor(self) -> bool:
        return self.api.two_factor

    @two_factor.setter
    def two_factor(self, value: bool) -> None:
        self.api.two_factor = value

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock (token expiry) forward."""
        with self.api.lock:
            self.api.clock_offset += seconds

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (one day and a second later)."""
        self.advance(TOKEN_LIFETIME + 1)

    # ------------------------------------------------------------------ seeding and inspection

    def add_certificate(
        self,
        domain_names: list[str],
        *,
        expires_on: datetime | None = None,
        nice_name: str | None = None,
        provider: str = "letsencrypt",
    ) -> int:
        expiry = expires_on or datetime.now(UTC) + timedelta(days=60)
        with self.api.lock:
            return self.api.add_certificate(
                domain_names, expiry, nice_name or domain_names[0], provider
            )

    def add_redirection_host(self, domain_names: list[str]) -> None:
        """Names held by a redirection or 404 host: they clash, but are not proxy hosts."""
        with self.api.lock:
            self.api.other_domains.extend(domain_names)

    def add_host(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a proxy host as another NPM user would (through the real API logic)."""
        token = self.api.issue_token()["token"]
        req = Request(
            "POST", "/api/nginx/proxy-hosts", f"Bearer {token}", json.dumps(body).encode()
        )
        status, payload = self.api.handle(req)
        if status != 201:
            raise AssertionError(f"seeding a proxy host failed: {status} {payload}")
        return dict(payload)

    def host(self, host_id: int) -> dict[str, Any]:
        """The stored row (including soft-deleted ones), as GET would present it."""
        with self.api.lock:
            row = self.api.hosts[host_id]
            return {**self.api._present(row, ()), "is_deleted": row["is_deleted"]}

    def live_hosts(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [
                self.api._present(r, ()) for r in self.api.hosts.values() if not r["is_deleted"]
            ]

    @property
    def logins(self) -> int:
        return self.api.logins

    @property
    def renewals(self) -> int:
        return self.api.renewals

    @property
    def requests(self) -> list[tuple[str, str, Json]]:
        """Every API request seen: (method, path, JSON body or None)."""
        with self.api.lock:
            return list(self.api.requests)

    # ------------------------------------------------------------------ traffic through nginx

    def wait_for_nginx(self, timeout: float = 5.0) -> None:
        """Block until nginx serves the last written configuration (reloads are asynchronous)."""
        self.nginx.wait_current(deadline=time.monotonic() + timeout)

    def get_via_proxy(
        self, host_header: str, path: str = "/", *, timeout: float = 5.0
    ) -> httpx.Response:
        """GET through our nginx with `Host: host_header`, once the latest reload is live."""
        self.wait_for_nginx(timeout)
        if self._proxy_client is None:
            self._proxy_client = httpx.Client()
        return self._proxy_client.get(
            f"http://127.0.0.1:{self.nginx.port}{path}",
            headers={"Host": host_header, "Connection": "close"},
            timeout=timeout,
        )


# --------------------------------------------------------------------------- a tiny upstream


class EchoUpstream:
    """An HTTP server on 127.0.0.1 that answers every GET with its name and what it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.hits += 1
                body = json.dumps(
                    {
                        "upstream": owner.name,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def running_emulator(**options: Any) -> Iterator[NpmEmulator]:
    """`with running_emulator() as npm:` — started, and always stopped."""
    emulator = NpmEmulator(**options)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
