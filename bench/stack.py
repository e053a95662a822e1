"""The stack the bench drives: its own `medivoy dev` (own data dir and ports, stopped at the end),
or a running one named by its data dir. Also the processes to weigh and the worker's metrics."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from runtime.stack import JWT_SECRET_FILE, STACK_FILE

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    data_dir: Path
    api_url: str = ""
    database_url: str = ""
    temporal_address: str = ""
    jwt_secret: str = ""
    dev_pid: int = 0
    sdk_metrics_url: str = ""
    process: subprocess.Popen[bytes] | None = None  # ours, when we started it
    env: dict[str, str] = field(default_factory=dict)

    # ours ----------------------------------------------------------------------------------

    @classmethod
    def own(cls, data_dir: Path, extra_env: dict[str, str]) -> Stack:
        data_dir.mkdir(parents=True, exist_ok=True)
        sdk_port = free_port()
        api_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MEDIVOY_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            {
                "MEDIVOY_DATA_DIR": str(data_dir),
                "MEDIVOY_API_PORT": str(api_port),
                "MEDIVOY_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
                "MEDIVOY_POSTGRES_PORT": str(free_port()),
                "MEDIVOY_TEMPORAL_PORT": str(free_port()),
                "MEDIVOY_TEMPORAL_UI_PORT": str(free_port()),
                # The embedded Stripe too: another stack (a `make dev`, a second bench) may
                # hold its default port.
                "MEDIVOY_STRIPE_PORT": str(free_port()),
                "MEDIVOY_TEMPORAL_METRICS_PORT": str(sdk_port),
                "MEDIVOY_JWT_SECRET": secrets.token_urlsafe(48),
                "MEDIVOY_ADMIN_EMAIL": "bench-admin@example.com",
                "MEDIVOY_ADMIN_PASSWORD": "Bench-" + secrets.token_urlsafe(16) + "-9!",
                # The bench mints its tokens; nothing here logs in repeatedly, but be safe.
                "MEDIVOY_AUTH_RATE_LIMIT": "100000/minute",
                **extra_env,
            }
        )
        stack = cls(data_dir=data_dir, env=env, jwt_secret=env["MEDIVOY_JWT_SECRET"])
        stack.sdk_metrics_url = f"http://127.0.0.1:{sdk_port}/metrics"
        return stack

    def start(self) -> float:
        """Start `medivoy dev` and wait until it says it runs; the seconds it took."""
        (self.data_dir / STACK_FILE).unlink(missing_ok=True)
        log = open(self.data_dir / "bench-dev.log", "ab")  # noqa: SIM115 - the child holds it
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dev"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = began + START_TIMEOUT
        while not (self.data_dir / STACK_FILE).exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"medivoy dev exited; see {self.data_dir / 'bench-dev.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"medivoy dev did not start in {START_TIMEOUT:.0f} s")
            time.sleep(0.1)
        took = time.monotonic() - began
        self._read_stack_file()
        return took

    def stop(self) -> float:
        """Stop our `medivoy dev` (SIGINT, as Ctrl-C); the seconds it took."""
        process = self.process
        if process is None or process.poll() is not None:
            return 0.0
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.process = None
        return time.monotonic() - began

    # running -------------------------------------------------------------------------------

    @classmethod
    def running(cls, data_dir: Path) -> Stack:
        stack = cls(data_dir=data_dir)
        stack._read_stack_file()
        secret = os.environ.get("MEDIVOY_JWT_SECRET", "")
        if not secret:
            with contextlib.suppress(OSError):
                secret = (data_dir / JWT_SECRET_FILE).read_text().strip()
        if not secret:
            raise RuntimeError("set MEDIVOY_JWT_SECRET: the bench mints its users' tokens")
        stack.jwt_secret = secret
        port = os.environ.get("MEDIVOY_TEMPORAL_METRICS_PORT")
        if port:
            stack.sdk_metrics_url = f"http://127.0.0.1:{port}/metrics"
        return stack

    def _read_stack_file(self) -> None:
        info = json.loads((self.data_dir / STACK_FILE).read_text())
        self.api_url = info["api_url"]
        self.database_url = info["database_url"]
        self.temporal_address = info["temporal_address"]
        self.dev_pid = int(info["pid"])

    # what runs -----------------------------------------------------------------------------

    def processes(self) -> dict[str, psutil.Process]:
        """The worker, the API, the Temporal server and PostgreSQL's postmaster, by name."""
        found: dict[str, psutil.Process] = {}
        try:
            children = psutil.Process(self.dev_pid).children(recursive=True)
        except psutil.Error:
            return found
        for child in children:
            with contextlib.suppress(psutil.Error):
                cmdline = child.cmdline()
                joined = " ".join(cmdline)
                if "cli.main" in joined and cmdline[-1] == "worker":
                    found["worker"] = child
                elif "cli.main" in joined and cmdline[-1] == "api":
                    found["api"] = child
                elif "temporal" in Path(cmdline[0]).name and "server" in cmdline:
                    found["temporal"] = child
                elif Path(cmdline[0]).name == "postgres" and "postgres" not in found:
                    found["postgres"] = child
        return found

    def rss_mib(self, name: str) -> float:
        process = self.processes().get(name)
        if process is None:
            return float("nan")
        try:
            return float(process.memory_info().rss) / 2**20
        except psutil.Error:
            return float("nan")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")


def scrape(url: str) -> dict[str, float]:
    """The SDK's Prometheus metrics, summed over labels (name -> value); {} without an endpoint."""
    if not url:
        return {}
    try:
        text = httpx.get(url, timeout=5.0).text
    except httpx.HTTPError:
        return {}
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and not line.startswith("#"):
            name, _labels, value = match.groups()
            if name.endswith("_bucket"):
                continue
            with contextlib.suppress(ValueError):
                totals[name] = totals.get(name, 0.0) + float(value)
    return totals
