"""`medivoy dev` brings the whole stack up, stops every process on Ctrl-C, and keeps its data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from runtime.temporal_server import binary

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Dev-Stack-Pass-1!"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 45.0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    """One `python -m cli.main dev` run, with its ports and data dir."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.api, self.temporal, self.ui, self.postgres, self.stripe = _free_ports(5)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIVOY_")}
        env.update(
            MEDIVOY_DATA_DIR=str(self.data_dir),
            MEDIVOY_API_PORT=str(self.api),
            MEDIVOY_TEMPORAL_PORT=str(self.temporal),
            MEDIVOY_TEMPORAL_UI_PORT=str(self.ui),
            MEDIVOY_POSTGRES_PORT=str(self.postgres),
            MEDIVOY_STRIPE_PORT=str(self.stripe),
            MEDIVOY_ADMIN_EMAIL=ADMIN_EMAIL,
            MEDIVOY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            MEDIVOY_LOG_JSON="false",
        )
        self.env = env
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api}"

    @property
    def output_file(self) -> Path:
        return self.tmp / f"dev-{self.runs}.out"

    def output(self) -> str:
        text = self.output_file.read_text(errors="replace")
        for name in ("api", "worker", "temporal", "postgres", "stripe"):
            log = self.data_dir / f"{name}.log"
            if log.exists():
                text += f"\n--- {name}.log (end)\n" + log.read_text(errors="replace")[-3000:]
        return text

    def start(self) -> None:
        self.runs += 1
        with open(self.output_file, "wb") as out:
            # cwd: the temp dir, so no developer's .env is read.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "dev"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.tmp,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"medivoy dev exited ({self.process.returncode}):\n{self.output()}")
            if (self.data_dir / "stack.json").exists():
                try:
                    if httpx.get(self.api_url + "/api/v1/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        pytest.fail(f"medivoy dev did not become healthy in {START_TIMEOUT} s:\n{self.output()}")

    def interrupt(self) -> tuple[int, list[psutil.Process]]:
        """Ctrl-C; returns the exit code and the processes that ran under it before."""
        assert self.process is not None
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"medivoy dev did not stop in {STOP_TIMEOUT} s:\n{self.output()}")
        return code, children

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for child in psutil.Process(self.process.pid).children(recursive=True):
            child.kill()
        self.process.kill()
        self.process.wait()

    def temporal_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary("temporal"), *args, "--address", f"127.0.0.1:{self.temporal}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres}/medivoy"

    def admin_row(self) -> tuple[str, bool, bool, bool] | None:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT user_type, is_verified, is_approved, is_active FROM users WHERE email = %s",
                (ADMIN_EMAIL,),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    yield stack
    stack.kill()  # only if a failed assertion left it running


def _assert_all_stopped(stack: Stack, code: int, children: list[psutil.Process]) -> None:
    assert code == 0, stack.output()
    # PostgreSQL, its backends, Temporal, the worker and the API at least.
    assert len(children) >= 4, [c.name() for c in children]
    _, alive = psutil.wait_procs(children, timeout=5)
    still = []
    for process in alive:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                still.append((process.pid, process.name()))
        except psutil.NoSuchProcess:
            pass
    assert not still, f"left running: {still}"
    ports = (stack.api, stack.temporal, stack.ui, stack.postgres, stack.stripe)
    busy = [p for p in ports if not _port_free(p)]
    assert not busy, f"ports still in use: {busy}"
    assert not (stack.data_dir / "stack.json").exists()


def test_dev_stack_starts_stops_cleanly_and_keeps_its_data(stack: Stack) -> None:
    stack.start()
    info = json.loads((stack.data_dir / "stack.json").read_text())
    assert info["api_url"] == stack.api_url
    assert info["temporal_address"] == f"127.0.0.1:{stack.temporal}"
    assert httpx.get(f"http://127.0.0.1:{stack.ui}/", timeout=10).status_code < 500
    assert stack.admin_row() == ("admin", True, True, True)
    secret_file = stack.data_dir / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text()
    key_file = stack.data_dir / "payload_keys.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    payload_keys = json.loads(key_file.read_text())
    assert list(payload_keys) == ["dev"]
    # A workflow nobody works on stays running: it must still be there after a restart.
    probe = "dev-stack-probe-" + uuid.uuid4().hex
    stack.temporal_cli(
        "workflow",
        "start",
        "--type",
        "DevStackProbe",
        "--task-queue",
        probe,
        "--workflow-id",
        probe,
    )

    code, children = stack.interrupt()
    _assert_all_stopped(stack, code, children)

    stack.start()
    assert "Admin account created" not in stack.output_file.read_text()
    assert stack.admin_row() == ("admin", True, True, True)
    assert secret_file.read_text() == secret
    login = httpx.post(
        stack.api_url + "/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    assert json.loads(key_file.read_text()) == payload_keys, "the key survives a restart"
    # The API holds the generated key and the Web UI decodes through it (CORS for the UI only).
    token = login.json()["data"]["access_token"]
    plain = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}
    encoded = httpx.post(
        stack.api_url + "/api/v1/codec/encode",
        json={"payloads": [plain]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert encoded.status_code == 200, encoded.text
    (sealed,) = encoded.json()["payloads"]
    assert sealed["metadata"]["encryption-key-id"] == "ZGV2"  # base64 of "dev"
    ui_origin = f"http://127.0.0.1:{stack.ui}"
    preflight = httpx.options(
        stack.api_url + "/api/v1/codec/decode",
        headers={"Origin": ui_origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.headers.get("access-control-allow-origin") == ui_origin
    ui_settings = httpx.get(f"{ui_origin}/api/v1/settings", timeout=10)
    assert f"{stack.api_url}/api/v1/codec" in ui_settings.text, ui_settings.text
    described = stack.temporal_cli("workflow", "describe", "--workflow-id", probe, "-o", "json")
    assert "RUNNING" in described.stdout

    code, children = stack.interrupt()
    _assert_all_stopped(stack, code, children)


def _children_named(stack: Stack, verb: str) -> list[psutil.Process]:
    assert stack.process is not None
    found = []
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            if child.cmdline()[-2:] == ["cli.main", verb]:
                found.append(child)
        except psutil.Error:
            pass
    return found


def _wait_for(what: str, probe: Callable[[], object], stack: Stack, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"{what} not within {within} s:\n{stack.output()}")


def test_a_killed_worker_comes_back_and_a_dead_database_stops_the_stack(stack: Stack) -> None:
    stack.start()
    (worker,) = _children_named(stack, "worker")
    worker.kill()  # SIGKILL

    def new_worker_polls() -> bool:
        workers = _children_named(stack, "worker")
        if not workers or workers[0].pid == worker.pid:
            return False
        described = stack.temporal_cli("task-queue", "describe", "--task-queue", "medivoy")
        return f"{workers[0].pid}@" in described.stdout

    _wait_for("a new worker polling the task queue", new_worker_polls, stack)
    said = stack.output_file.read_text()
    assert "the worker died (killed by SIGKILL" in said
    assert "Restarting it in 1 s" in said
    assert "the worker restarted (pid" in said
    # The API stayed up the whole time.
    assert httpx.get(stack.api_url + "/api/v1/health", timeout=5).status_code == 200

    assert stack.process is not None
    children = psutil.Process(stack.process.pid).children(recursive=True)
    postgres = next(c for c in children if c.name() == "postgres" and c.ppid() == stack.process.pid)
    postgres.kill()
    try:
        code = stack.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"medivoy dev stayed half up without PostgreSQL:\n{stack.output()}")
    assert code == 1
    said = stack.output_file.read_text()
    assert "the PostgreSQL exited unexpectedly (exit code -9)" in said
    assert "stopping the stack" in said
    assert "Restarting" not in said.split("the PostgreSQL exited")[1]
    _, alive = psutil.wait_procs(children, timeout=10)
    still = [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not still, f"left running: {still}"
    assert not (stack.data_dir / "stack.json").exists()


def test_a_killed_api_comes_back_with_backoff_and_a_dead_temporal_stops_the_stack(
    stack: Stack,
) -> None:
    stack.start()

    def api_replaced(old: int) -> Callable[[], bool]:
        def probe() -> bool:
            apis = _children_named(stack, "api")
            if not apis or apis[0].pid == old:
                return False
            try:
                return httpx.get(stack.api_url + "/api/v1/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        return probe

    # Killed twice in a row: the second restart waits twice as long (the backoff).
    for wait in (1, 2):
        (api,) = _children_named(stack, "api")
        api.kill()  # SIGKILL
        _wait_for(f"the API back after {wait} s", api_replaced(api.pid), stack)
        said = stack.output_file.read_text()
        assert f"Restarting it in {wait} s" in said, said
    assert said.count("the api died (killed by SIGKILL") == 2
    assert "the api restarted (pid" in said and "restart 2)" in said

    assert stack.process is not None
    children = psutil.Process(stack.process.pid).children(recursive=True)
    temporal = next(c for c in children if c.name() == "temporal" and c.ppid() == stack.process.pid)
    temporal.kill()
    try:
        code = stack.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"medivoy dev stayed half up without Temporal:\n{stack.output()}")
    assert code == 1
    said = stack.output_file.read_text()
    assert "the Temporal dev server exited unexpectedly (exit code -9)" in said
    assert "stopping the stack" in said
    _, alive = psutil.wait_procs(children, timeout=10)
    still = [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not still, f"left running: {still}"
    assert not (stack.data_dir / "stack.json").exists()


def _call(method: str, url: str, token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.request(method, url, headers=headers, timeout=30, **kwargs)
    assert answer.status_code < 300, f"{method} {url}: {answer.status_code} {answer.text}"
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_dev_stack_takes_a_payment_through_its_embedded_stripe(stack: Stack) -> None:
    """No Stripe key set: localstripe runs on loopback with its state in the data dir, and a
    payment made with `medivoy pay` reaches the API's webhook: paid, invoiced."""
    stack.start()
    assert stack.process is not None
    (stripe_process,) = [
        c
        for c in psutil.Process(stack.process.pid).children()
        if "runtime.embedded_stripe" in c.cmdline()
    ]
    listening = [
        c.laddr
        for c in psutil.net_connections(kind="inet")
        if c.pid == stripe_process.pid and c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(a.ip == "127.0.0.1" and a.port == stack.stripe for a in listening)
    info = json.loads((stack.data_dir / "stack.json").read_text())
    assert info["stripe_api_base"] == f"http://127.0.0.1:{stack.stripe}"

    api = stack.api_url + "/api/v1"
    hospital_id = uuid.uuid4()
    with psycopg.connect(stack.database_url) as conn:
        conn.execute(
            "INSERT INTO hospitals (id, name, country) VALUES (%s, 'Anatolia Clinic', 'Turkey')",
            (hospital_id,),
        )
    email, password = "leyla.demir@example.com", "Bosphorus-Knee-2026!"
    _call(
        "POST",
        api + "/auth/register",
        json={"email": email, "password": password, "first_name": "Leyla", "last_name": "Demir"},
    )
    patient = _call("POST", api + "/auth/login", json={"email": email, "password": password})
    admin = _call(
        "POST", api + "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    p, a = patient["access_token"], admin["access_token"]
    booking = _call("POST", api + "/bookings", p, json={"hospital_id": str(hospital_id)})
    moves = api + f"/bookings/{booking['id']}"
    _call("PATCH", moves + "/status", a, json={"status": "under_review"})
    _call("PATCH", moves + "/status", a, json={"status": "accepted"})
    valid = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 14 * 86400))
    items = [{"description": "Knee replacement", "amount": "4200.00"}]
    _call(
        "POST",
        moves + "/quotation",
        a,
        json={"items": items, "currency": "USD", "valid_until": valid},
    )
    _call("PATCH", moves + "/status", p, json={"status": "confirmed"})
    checkout = _call(
        "POST",
        api + "/payments",
        p,
        json={
            "booking_id": booking["id"],
            "amount": "4200.00",
            "currency": "USD",
            "payment_gateway": "stripe",
            "payment_method": "card",
        },
    )
    assert checkout["publishable_key"].startswith("pk_test_")

    paid = subprocess.run(
        [sys.executable, "-m", "cli.main", "pay", checkout["payment_id"], "--wait", "90"],
        env=stack.env,
        cwd=stack.tmp,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert paid.returncode == 0, paid.stdout + paid.stderr + stack.output()
    assert "completed in Medivoy" in paid.stdout
    again = subprocess.run(
        [sys.executable, "-m", "cli.main", "pay", checkout["payment_id"]],
        env=stack.env,
        cwd=stack.tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "not pending" in again.stderr, again.stderr

    with psycopg.connect(stack.database_url) as conn:
        status = conn.execute(
            "SELECT status, payment_status FROM bookings WHERE id = %s", (booking["id"],)
        ).fetchone()
        invoices = conn.execute(
            "SELECT count(*) FROM invoices WHERE booking_id = %s", (booking["id"],)
        ).fetchone()
        events = conn.execute(
            "SELECT event_type, signature_verified, processed_at IS NOT NULL FROM webhook_events"
        ).fetchall()
    assert status == ("invoice_sent", "paid")
    assert invoices == (1,)
    # The event came from the embedded Stripe, signed with the stack's secret, and was acted on.
    assert ("payment_intent.succeeded", True, True) in events
    state = stack.data_dir / "stripe.pickle"
    assert checkout["gateway_id"].encode() in state.read_bytes()

    code, children = stack.interrupt()
    _assert_all_stopped(stack, code, children)
