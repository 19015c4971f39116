"""The PyInstaller executable runs the whole app (migrations, web server, clean SIGTERM)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.integration.test_app_process import child_environ, free_port

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "dist" / "docker-watcher"


def test_single_executable_serves_and_stops_cleanly(tmp_path: Path) -> None:
    build = subprocess.run(
        ["bash", "build/pack.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (
        len(
            subprocess.run(
                [BINARY, "keygen"], capture_output=True, text=True, check=True, timeout=120
            ).stdout.strip()
        )
        == 64
    )

    port = free_port()
    env = child_environ(DW_DATA_DIR=str(tmp_path / "data"), DW_PORT=str(port))
    log_file = tmp_path / "binary.log"
    with log_file.open("w") as out:
        process = subprocess.Popen(
            [BINARY], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        health = _wait_health(f"http://127.0.0.1:{port}/healthz", process, log_file)
        assert health["database"]["ok"] is True
    finally:
        process.terminate()
        assert process.wait(60) == 0, log_file.read_text()[-3000:]


def _wait_health(url: str, process: subprocess.Popen[bytes], log_file: Path) -> dict[str, object]:
    for _ in range(600):  # the one-file binary unpacks itself first: allow up to ~60 s
        assert process.poll() is None, log_file.read_text()[-3000:]
        try:
            answer = httpx.get(url, timeout=1)
            return dict(answer.json())
        except httpx.TransportError:
            time.sleep(0.1)  # another process is starting; polling is all we can do
    raise AssertionError("the executable never answered /healthz:\n" + log_file.read_text())
