"""Processes, free ports, polling and the Prometheus HTTP API for the end-to-end test.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs
import pytest

LOOPBACK = "127.0.0.1"
TESTS = Path(__file__).resolve().parents[1]
NODE_DIR = TESTS / "node"
NODE_MODULES = NODE_DIR / "node_modules"
NODE_PACKAGES = ("prom-client", "typescript", "@types/node")
# The flags of the instrumentation tests. `--skipLibCheck` skips the declaration
# files of prom-client and Node.js, which are not under test.
TSC_FLAGS = (
    "--strict",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--types",
    "node",
    "--skipLibCheck",
)
# Seconds that a process gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10

T = TypeVar("T")


@attrs.frozen
class Tools:
    prometheus: str
    node: str
    npm: str


def require_tools() -> Tools:
    """Return the paths of prometheus, node and npm, or fail with an install hint."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail(
            "the end-to-end test needs the Prometheus server on PATH; install it with "
            "`apt-get install prometheus` (Debian and Ubuntu), or put prometheus from "
            "a Prometheus release on PATH",
            pytrace=False,
        )
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "the end-to-end test needs node and npm on PATH to run prom-client; "
            "install Node.js 20 or later with npm (on Debian: apt-get install nodejs "
            "npm)",
            pytrace=False,
        )
    return Tools(prometheus=prometheus, node=node, npm=npm)


def install_node_packages(npm: str) -> None:
    """Run `npm install` in tests/node/ when one of its packages is missing."""
    missing = [
        name
        for name in NODE_PACKAGES
        if not (NODE_MODULES / name / "package.json").is_file()
    ]
    if not missing:
        return
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(
            f"npm install in {NODE_DIR} failed with exit code {result.returncode}; "
            f"it installs {', '.join(missing)}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def compile_typescript(node: str, workspace: Path, sources: list[str]) -> None:
    """Compile `sources` (relative to `workspace`) into `workspace/build/` with tsc."""
    link = workspace / "node_modules"
    if not link.exists():
        link.symlink_to(NODE_MODULES, target_is_directory=True)
    (workspace / "package.json").write_text(
        '{"private": true, "type": "commonjs"}\n', encoding="utf-8"
    )
    tsc = NODE_MODULES / "typescript" / "bin" / "tsc"
    result = subprocess.run(
        [node, str(tsc), *TSC_FLAGS, "--outDir", "build", *sources],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        pytest.fail(
            f"tsc failed on {', '.join(sources)}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def free_ports(count: int) -> list[int]:
    """Return `count` distinct ports that were free on 127.0.0.1 a moment ago.

    NOTE: another program can take a port between this call and the bind of the
    process that gets it. That process then fails to start, and the test reports
    its log.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@attrs.define
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


class Processes:
    """The processes that a test started, each with a log file, stopped by pid."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: dict[str, Started] = {}

    def start(self, name: str, command: list[str], cwd: Path | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("wb")
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            log.close()
            raise
        self.started[name] = Started(name, process, log_path, log)

    def pid(self, name: str) -> int:
        return self.started[name].process.pid

    def send_signal(self, name: str, signum: signal.Signals) -> None:
        os.kill(self.pid(name), signum)

    def exited(self) -> dict[str, int]:
        """Return the exit code of every started process that is no longer running."""
        return {
            name: code
            for name, entry in self.started.items()
            if (code := entry.process.poll()) is not None
        }

    def log_tail(self, name: str, lines: int = 30) -> str:
        entry = self.started[name]
        entry.log.flush()
        text = entry.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        """Terminate every process by its pid, kill those that outlive STOP_TIMEOUT."""
        for entry in reversed(list(self.started.values())):
            process = entry.process
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            entry.log.close()


def poll(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float
) -> T:
    """Call `fetch` until `done` holds for its value or `timeout` seconds pass.

    Returns the last value, so that the caller asserts on it and reports it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET a loopback URL and return the status and body, or status 0 if unreachable."""
    if urllib.parse.urlsplit(url).hostname != LOOPBACK:
        raise ValueError(f"the end-to-end test only requests {LOOPBACK}, not {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def is_finite_sample(result: dict[str, Any]) -> bool:
    """Tell whether one instant-vector result of /api/v1/query has a finite value."""
    return math.isfinite(float(result["value"][1]))


class PrometheusAPI:
    """The parts of Prometheus' HTTP API (/api/v1) that the test reads."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{LOOPBACK}:{port}"

    def ready(self) -> bool:
        status, _ = http_get(f"{self.base}/-/ready")
        return status == 200

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.base}/api/v1/{path}{query}"
        status, body = http_get(url, timeout=10)
        if status == 0:
            raise ConnectionError(f"Prometheus did not answer GET {url}")
        document = json.loads(body)
        if document.get("status") != "success":
            raise AssertionError(
                f"GET {url} returned HTTP {status}: {document.get('errorType')}: "
                f"{document.get('error')}"
            )
        return document["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate `expr` at the current time and return the instant vector.

        A scalar or string result becomes one sample without labels.
        """
        data = self.get("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self.get("targets", state="active")["activeTargets"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self.get("rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.get("alerts")["alerts"]


def parse_rfc3339(text: str) -> float:
    """Return the epoch seconds of an RFC 3339 time from the HTTP API.

    Go's zero time, which /api/v1/rules shows for a group never evaluated, is 0.
    """
    parsed = datetime.fromisoformat(text)
    return 0.0 if parsed.year == 1 else parsed.timestamp()
