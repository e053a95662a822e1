"""`medivoy dev`: PostgreSQL, Temporal, the worker and the API as children of one process,
and localstripe as the embedded Stripe when no Stripe key is set.

Every process is our child and is stopped by us, in order (API, worker, Temporal, PostgreSQL),
on Ctrl-C, on SIGTERM, or when PostgreSQL or Temporal dies (then nothing can work: the stack stops
with a message naming which). A worker or API that dies is started again with backoff, and the
output says why it died. The data stays in the data dir, so a restart finds the users and the
workflows where they were (and the embedded Stripe its payments).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
import psutil
import psycopg

from cli.admin import DEFAULT_ADMIN_EMAIL, ensure_admin
from runtime import embedded_stripe
from runtime import stack as stack_file
from runtime.codec import new_key
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import PG_USER, EmbeddedPostgres
from runtime.settings import Settings
from runtime.stack import (
    JWT_SECRET_FILE,
    PAYLOAD_KEYS_FILE,
    STRIPE_STATE_FILE,
    STRIPE_WEBHOOK_SECRET_FILE,
    StackInfo,
    read_payload_keys,
)
from runtime.temporal_server import TemporalDevServer

DATABASE = "medivoy"
HEALTH_PATH = "/api/v1/health"
STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
HEALTH_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class StackError(Exception):
    """Starting the stack failed for a reason the person can act on."""


class _Stop(BaseException):
    """SIGINT or SIGTERM arrived: unwind and stop everything."""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if `medivoy dev` itself dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_free(host: str, port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so leftover TIME_WAIT sockets do not count.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# A worker or API that dies is started again after 1, 2, 4, ... seconds (at most MAX); one that
# had run for HEALTHY seconds before it died starts again at once-ish (the backoff starts over).
RESTART_BACKOFF_MIN = 1.0
RESTART_BACKOFF_MAX = 30.0
RESTART_HEALTHY_AFTER = 60.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    command: list[str]
    started: float = 0.0
    restarts: int = 0
    backoff: float = RESTART_BACKOFF_MIN
    restart_at: float | None = None  # set while it waits to be started again


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _last_line(log: Path) -> str:
    """The child's last log line (ids and error kinds only, as every log line)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line and not line.startswith("--- medivoy")]
    return lines[-1][:300] if lines else ""


class DevStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.temporal: TemporalDevServer | None = None
        self.children: list[Child] = []  # in start order: [stripe,] worker, api
        self.env: dict[str, str] = {}
        self._lock: IO[bytes] | None = None
        self._wrote_stack_file = False
        # Set by the signal handler and checked at safe points: raising from the handler itself
        # could land inside a library (asyncio swallows it in callbacks) and be lost.
        self.stop_requested: int | None = None
        self.api_probe = "127.0.0.1" if settings.api_host in ("0.0.0.0", "") else settings.api_host
        self.api_url = f"http://{self.api_probe}:{settings.api_port}"
        self.ui_url = (
            f"http://127.0.0.1:{settings.temporal_ui_port}"
            if not settings.temporal_address
            else None
        )
        # No Stripe key set: localstripe is the embedded Stripe, on loopback.
        self.stripe_url = (
            None
            if settings.stripe_secret_key.get_secret_value()
            else f"http://{embedded_stripe.HOST}:{settings.stripe_port}"
        )

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = signum

    def _check_stop(self) -> None:
        if self.stop_requested is not None:
            raise _Stop(self.stop_requested)

    # start ---------------------------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        stack_file.remove(self.data_dir)  # stale: its writer no longer holds the lock
        self._stop_leftovers()
        self._check_ports()
        self._check_stop()

        if s.database_url:
            database_url = s.database_url
            _say("PostgreSQL: using MEDIVOY_DATABASE_URL")
        else:
            _say(f"Starting PostgreSQL on 127.0.0.1:{s.postgres_port} (data in {self.data_dir})")
            database_url = self._start_postgres()
            self._record_pids()
        self._check_stop()
        if s.temporal_address:
            temporal_address = s.temporal_address
            _say(f"Temporal: using MEDIVOY_TEMPORAL_ADDRESS={temporal_address}")
        else:
            _say(f"Starting the Temporal dev server on 127.0.0.1:{s.temporal_port}")
            temporal_address = self._start_temporal()
            self._record_pids()
        self._check_stop()

        _say("Applying database migrations")
        upgrade(database_url)
        self._check_stop()
        jwt_secret = self._jwt_secret()
        payload_keys = self._payload_keys()
        admin_email = s.admin_email or DEFAULT_ADMIN_EMAIL
        self._ensure_admin(database_url, admin_email, s.admin_password.get_secret_value() or None)

        env = {
            **os.environ,
            "MEDIVOY_DATA_DIR": str(self.data_dir),
            "MEDIVOY_DATABASE_URL": database_url,
            "MEDIVOY_TEMPORAL_ADDRESS": temporal_address,
            "MEDIVOY_JWT_SECRET": jwt_secret,
            **payload_keys,
            **self._codec_origins(),
            "MEDIVOY_API_HOST": s.api_host,
            "MEDIVOY_API_PORT": str(s.api_port),
            "PYTHONUNBUFFERED": "1",
        }
        if self.ui_url and not s.temporal_ui_url:
            env["MEDIVOY_TEMPORAL_UI_URL"] = self.ui_url
        if self.stripe_url:
            env.update(self._stripe_env())
        self._check_stop()
        self.env = env
        if self.stripe_url:
            _say(f"Starting the embedded Stripe (localstripe) on {self.stripe_url}")
            self._spawn("stripe", env)
        _say("Starting the worker and the API")
        self._spawn("worker", env)
        self._spawn("api", env)
        self._record_pids()
        self._wait_for_api()
        self._wait_for_worker(temporal_address)
        if self.stripe_url:
            self._wait_for_stripe()
        self._check_stop()
        self._write_stack_file(database_url, temporal_address)
        self._banner(database_url, admin_email)

    def _take_lock(self) -> None:
        lock = open(self.data_dir / "dev.lock", "wb")  # noqa: SIM115 - held while we run
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            other = stack_file.read_running(self.settings)
            who = f" (pid {other.pid})" if other else ""
            raise StackError(
                f"another `medivoy dev`{who} is already using {self.data_dir}; "
                "stop it first (Ctrl-C in its terminal) or set MEDIVOY_DATA_DIR"
            ) from None
        self._lock = lock

    @property
    def _pids_file(self) -> Path:
        return self.data_dir / "children.json"

    def _record_pids(self) -> None:
        """Remember our children, so that a next start can stop them if we get SIGKILLed."""
        processes: list[subprocess.Popen[bytes] | None] = [c.process for c in self.children]
        processes += [x.process for x in (self.postgres, self.temporal) if x is not None]
        records = []
        for process in processes:
            if process is not None and process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    records.append(
                        {"pid": process.pid, "started": psutil.Process(process.pid).create_time()}
                    )
        self._pids_file.write_text(json.dumps(records))

    def _stop_leftovers(self) -> None:
        """Stop what a previous `medivoy dev` on this data dir left running when it was killed."""
        try:
            records = json.loads(self._pids_file.read_text())
        except (OSError, ValueError):
            return
        leftovers = []
        for record in records:
            with contextlib.suppress(psutil.Error, KeyError, TypeError):
                process = psutil.Process(record["pid"])
                if abs(process.create_time() - record["started"]) < 0.01:
                    leftovers.append(process)
        if leftovers:
            _say(f"Stopping {len(leftovers)} process(es) left running by a killed `medivoy dev`")
            for process in leftovers:
                with contextlib.suppress(psutil.Error):
                    # SIGINT: PostgreSQL's fast shutdown; Temporal and Python stop on it too.
                    process.send_signal(signal.SIGINT)
            _, alive = psutil.wait_procs(leftovers, timeout=STOP_TIMEOUT)
            for process in alive:
                with contextlib.suppress(psutil.Error):
                    process.kill()
        self._pids_file.unlink(missing_ok=True)

    def _check_ports(self) -> None:
        s = self.settings
        wanted: list[tuple[str, str, int]] = [("MEDIVOY_API_PORT", s.api_host, s.api_port)]
        if not s.database_url:
            wanted.append(("MEDIVOY_POSTGRES_PORT", "127.0.0.1", s.postgres_port))
        if not s.temporal_address:
            wanted.append(("MEDIVOY_TEMPORAL_PORT", "127.0.0.1", s.temporal_port))
            wanted.append(("MEDIVOY_TEMPORAL_UI_PORT", "127.0.0.1", s.temporal_ui_port))
        if self.stripe_url:
            wanted.append(("MEDIVOY_STRIPE_PORT", embedded_stripe.HOST, s.stripe_port))
        seen: dict[int, str] = {}
        for name, host, port in wanted:
            if port in seen:
                raise StackError(f"{name} and {seen[port]} are both {port}; give each its own port")
            seen[port] = name
            if not _port_free(host, port):
                raise StackError(
                    f"port {port} ({name}) is already in use on {host}. Stop what listens "
                    f"there (`ss -ltnp 'sport = :{port}'` shows it) or choose another port, "
                    f"e.g. {name}={port + 1} medivoy dev"
                )

    def _start_postgres(self) -> str:
        self.postgres = EmbeddedPostgres(self.data_dir, self.settings.postgres_port, durable=True)
        try:
            self.postgres.start()
        except RuntimeError as exc:
            raise StackError(f"{exc} (log: {self.data_dir / 'postgres.log'})") from exc
        port = self.settings.postgres_port
        with psycopg.connect(
            f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return f"postgresql://{PG_USER}@127.0.0.1:{port}/{DATABASE}"

    def _start_temporal(self) -> str:
        s = self.settings
        self.temporal = TemporalDevServer(
            db_file=self.data_dir / "temporal.db",
            port=s.temporal_port,
            ui_port=s.temporal_ui_port,
            log_file=self.data_dir / "temporal.log",
            # Staff see decoded payloads in the UI (after POST /api/v1/codec/session), others
            # ciphertext.
            ui_codec_endpoint=f"{self.api_url}/api/v1/codec",
        )
        try:
            self.temporal.start()
        except RuntimeError as exc:
            raise StackError(f"{exc} (log: {self.data_dir / 'temporal.log'})") from exc
        return self.temporal.address

    def _jwt_secret(self) -> str:
        """MEDIVOY_JWT_SECRET, else one generated on first start and kept in the data dir."""
        given = self.settings.jwt_secret.get_secret_value()
        if given:
            return given
        path = self.data_dir / JWT_SECRET_FILE
        if path.exists():
            path.chmod(0o600)
            secret = path.read_text().strip()
            if secret:
                return secret
            path.unlink()
        secret = secrets.token_urlsafe(64)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
        return secret

    def _payload_keys(self) -> dict[str, str]:
        """The environment that gives the worker and API their payload keys: none when
        MEDIVOY_PAYLOAD_KEYS is set (they read it themselves), else the development key
        generated on first start and kept in the data dir (histories stay readable across
        restarts; delete the file together with the Temporal database)."""
        if self.settings.payload_keys:
            return {}
        path = self.data_dir / PAYLOAD_KEYS_FILE
        if not path.exists():
            keys = {"dev": new_key()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(keys, out)
        return read_payload_keys(path)

    def _stripe_env(self) -> dict[str, str]:
        """The Stripe settings that point the worker and the API at the embedded Stripe: its
        URL, its test keys, and a webhook secret generated on first start and kept in the data
        dir (the embedded Stripe signs its events with it)."""
        path = self.data_dir / STRIPE_WEBHOOK_SECRET_FILE
        secret = path.read_text().strip() if path.exists() else ""
        if not secret:
            path.unlink(missing_ok=True)
            secret = "whsec_" + secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secret + "\n")
        assert self.stripe_url is not None
        return {
            "MEDIVOY_STRIPE_SECRET_KEY": embedded_stripe.SECRET_KEY,
            "MEDIVOY_STRIPE_PUBLISHABLE_KEY": embedded_stripe.PUBLISHABLE_KEY,
            "MEDIVOY_STRIPE_API_BASE": self.stripe_url,
            "MEDIVOY_STRIPE_WEBHOOK_SECRET": secret,
        }

    def _command(self, name: str) -> list[str]:
        if name == "stripe":
            return [
                sys.executable,
                "-m",
                "runtime.embedded_stripe",
                "--port",
                str(self.settings.stripe_port),
                "--state",
                str(self.data_dir / STRIPE_STATE_FILE),
                "--webhook-url",
                self.api_url + STRIPE_WEBHOOK_PATH,
            ]
        return [sys.executable, "-m", "cli.main", name]

    def _codec_origins(self) -> dict[str, str]:
        """The embedded Web UI's origins for the codec endpoint's CORS, unless set."""
        if self.settings.codec_cors_origins:
            return {}
        port = self.settings.temporal_ui_port
        origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
        return {"MEDIVOY_CODEC_CORS_ORIGINS": json.dumps(origins)}

    def _ensure_admin(self, database_url: str, email: str, password: str | None) -> None:
        async def work() -> tuple[str | None, bool]:
            engine = make_engine(database_url, pool_size=1)
            try:
                return await ensure_admin(make_sessionmaker(engine), email, password)
            finally:
                await engine.dispose()

        try:
            generated, created = asyncio.run(work())
        except ValueError as exc:
            raise StackError(f"{exc} (MEDIVOY_ADMIN_EMAIL / MEDIVOY_ADMIN_PASSWORD)") from exc
        if generated:
            _say()
            _say("=" * 72)
            _say(f"  Admin account created: {email.lower()}")
            _say(f"  Password: {generated}")
            _say("  It is shown only this once and stored only as a hash: keep it now.")
            _say("=" * 72)
            _say()
        elif created:
            _say(f"Admin account created: {email.lower()} (password from MEDIVOY_ADMIN_PASSWORD)")

    def _spawn(self, name: str, env: dict[str, str], replacing: Child | None = None) -> None:
        """Start a child. From a thread that outlives it (the main thread): the child gets
        SIGTERM when the thread that started it ends (_die_with_parent)."""
        log = self.data_dir / f"{name}.log"
        with open(log, "ab") as out:
            out.write(f"--- medivoy {name} starting {datetime.now(UTC).isoformat()}\n".encode())
            out.flush()
            command = replacing.command if replacing is not None else self._command(name)
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                # Own session: a terminal's Ctrl-C reaches only us, and we stop them in order.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        if replacing is not None:
            replacing.process = process
            replacing.started = time.monotonic()
            replacing.restart_at = None
            return
        self.children.append(Child(name, process, log, command, started=time.monotonic()))

    def _wait_for_api(self) -> None:
        url = self.api_url + HEALTH_PATH
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while True:
            self._check_stop()
            died = self._dead_child()
            if died:
                raise StackError(died)
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the API did not answer {url} within {HEALTH_TIMEOUT:.0f} s; "
                    f"see {self.data_dir / 'api.log'}"
                )
            time.sleep(0.2)

    def _wait_for_stripe(self) -> None:
        """Until the embedded Stripe answers (its own route for Stripe.js: no key needed)."""
        url = f"{self.stripe_url}/js.stripe.com/v3/"
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while True:
            self._check_stop()
            died = self._dead_child()
            if died:
                raise StackError(died)
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the embedded Stripe did not answer {url} within {HEALTH_TIMEOUT:.0f} s; "
                    f"see {self.data_dir / 'stripe.log'}"
                )
            time.sleep(0.2)

    def _wait_for_worker(self, temporal_address: str) -> None:
        """Until our worker polls its task queue (Temporal reports pollers as pid@host)."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        from runtime.temporal import connect

        worker = next(c for c in self.children if c.name == "worker")
        identity = f"{worker.process.pid}@"
        s = self.settings

        async def poll() -> None:
            client = await connect(s, temporal_address)
            deadline = time.monotonic() + HEALTH_TIMEOUT
            while True:
                self._check_stop()
                died = self._dead_child()
                if died:
                    raise StackError(died)
                for kind in (
                    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                ):
                    answer = await client.workflow_service.describe_task_queue(
                        DescribeTaskQueueRequest(
                            namespace=s.temporal_namespace,
                            task_queue=TaskQueue(name=s.task_queue),
                            task_queue_type=kind,
                        )
                    )
                    if any(p.identity.startswith(identity) for p in answer.pollers):
                        return
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the worker did not poll task queue {s.task_queue!r} within "
                        f"{HEALTH_TIMEOUT:.0f} s; see {worker.log}"
                    )
                await asyncio.sleep(0.3)

        asyncio.run(poll())

    def _write_stack_file(self, database_url: str, temporal_address: str) -> None:
        info = StackInfo(
            pid=os.getpid(),
            data_dir=str(self.data_dir),
            api_url=self.api_url,
            database_url=database_url,
            temporal_address=temporal_address,
            temporal_ui_url=self.ui_url,
            stripe_api_base=self.stripe_url,
            logs=stack_file.log_files(self.data_dir, stripe=self.stripe_url is not None),
        )
        stack_file.write(self.data_dir, info)
        self._wrote_stack_file = True

    def _banner(self, database_url: str, admin_email: str) -> None:
        env_hint = ""
        if self.settings.data_dir != Settings.model_fields["data_dir"].default:
            env_hint = f"MEDIVOY_DATA_DIR={self.data_dir} "
        _say()
        _say("Medivoy is running.")
        _say(f"  API           {self.api_url}")
        _say(f"  API docs      {self.api_url}/docs")
        if self.ui_url:
            _say(f"  Temporal UI   {self.ui_url}")
        if self.stripe_url:
            _say(f"  Stripe        {self.stripe_url} (embedded localstripe; test cards only)")
        _say(f"  Database      {database_url}")
        _say(f"  Admin         {admin_email.lower()}")
        logs = "api,worker,temporal,postgres" + (",stripe" if self.stripe_url else "")
        _say(f"  Logs          {self.data_dir}/{{{logs}}}.log")
        _say()
        _say("Read the e-mail and SMS the app sent (verification mail included), in another")
        _say(f"terminal:  {env_hint}uv run medivoy outbox [--to ADDRESS] [--limit N]")
        if self.stripe_url:
            _say(
                f"Pay a pending payment with a test card:  {env_hint}uv run medivoy pay PAYMENT_ID"
            )
        _say("Stop everything with Ctrl-C.")
        _say()

    # run -----------------------------------------------------------------------------------

    def _dead_child(self, servers_only: bool = False) -> str | None:
        """A message naming the first process that has exited, if any (of PostgreSQL and
        Temporal only, with servers_only: the supervisor restarts the worker and the API)."""
        watched: list[tuple[str, subprocess.Popen[bytes] | None, Path]] = []
        if not servers_only:
            watched += [(c.name, c.process, c.log) for c in self.children]
        if self.temporal:
            watched.append(
                ("Temporal dev server", self.temporal.process, self.data_dir / "temporal.log")
            )
        if self.postgres:
            watched.append(("PostgreSQL", self.postgres.process, self.data_dir / "postgres.log"))
        for name, process, log in watched:
            if process is not None and process.poll() is not None:
                return f"the {name} exited unexpectedly (exit code {process.returncode}); see {log}"
        return None

    def watch(self) -> int:
        """Until a signal arrives (raising _Stop), or until PostgreSQL or Temporal dies (returns
        1: nothing works without them, so everything stops). A worker or API that dies is
        started again, with backoff, and the log says why it died."""
        while True:
            self._check_stop()
            died = self._dead_child(servers_only=True)
            if died:
                print(
                    f"medivoy dev: {died}. The worker and the API cannot run without it: "
                    "stopping the stack.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            self._supervise()
            time.sleep(0.5)

    def _supervise(self) -> None:
        now = time.monotonic()
        for child in self.children:
            code = child.process.poll()
            if code is None:
                continue
            if child.restart_at is None:
                ran = now - child.started
                if ran >= RESTART_HEALTHY_AFTER:
                    child.backoff = RESTART_BACKOFF_MIN
                child.restart_at = now + child.backoff
                last = _last_line(child.log)
                print(
                    f"medivoy dev: the {child.name} died ({_exit_reason(code)}, after "
                    f"{ran:.0f} s){f'; its last log line: {last}' if last else ''}. "
                    f"Restarting it in {child.backoff:.0f} s (see {child.log}).",
                    file=sys.stderr,
                    flush=True,
                )
                child.backoff = min(child.backoff * 2, RESTART_BACKOFF_MAX)
            elif now >= child.restart_at:
                child.restarts += 1
                self._spawn(child.name, self.env, replacing=child)
                self._record_pids()
                _say(
                    f"medivoy dev: the {child.name} restarted (pid {child.process.pid}, "
                    f"restart {child.restarts})"
                )

    # stop ----------------------------------------------------------------------------------

    @property
    def started_anything(self) -> bool:
        return bool(self.children or self.postgres or self.temporal)

    def stop(self) -> None:
        """Stop everything we started, in order; kill what does not stop in time."""
        started = psutil.Process().children(recursive=True)
        if self._wrote_stack_file:
            stack_file.remove(self.data_dir)
        for child in reversed(self.children):  # the API first, then the worker, then Stripe
            self._stop_process(child.name, child.process, signal.SIGTERM)
        if self.temporal:
            self.temporal.stop(STOP_TIMEOUT)
        if self.postgres:
            process = self.postgres.process
            if process is not None and process.poll() is None:
                # SIGINT is PostgreSQL's fast shutdown: disconnect clients, checkpoint, exit.
                # Its SIGTERM (in stop) waits for every client to leave.
                process.send_signal(signal.SIGINT)
            self.postgres.stop(STOP_TIMEOUT)
        # Anything still alive here (a grandchild whose parent was killed) goes too.
        for leftover in started:
            with contextlib.suppress(psutil.Error):
                if leftover.is_running() and leftover.status() != psutil.STATUS_ZOMBIE:
                    leftover.kill()
        if self._lock is not None:  # the files are ours only while we hold the lock
            self._pids_file.unlink(missing_ok=True)
            self._lock.close()

    @staticmethod
    def _stop_process(name: str, process: subprocess.Popen[bytes], sig: int) -> None:
        """Ask; ask again (a second signal means hurry); then kill."""
        for attempt, timeout in enumerate((STOP_TIMEOUT / 3, STOP_TIMEOUT * 2 / 3)):
            if process.poll() is not None:
                return
            if attempt:
                print(f"medivoy dev: the {name} is slow to stop; asking again", file=sys.stderr)
            process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        if process.poll() is None:
            print(f"medivoy dev: the {name} did not stop in time; killing it", file=sys.stderr)
            process.kill()
            process.wait()


def run_dev(settings: Settings) -> int:
    stack = DevStack(settings)
    previous = {sig: signal.signal(sig, stack.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 1
    try:
        stack.start()
        code = stack.watch()
    except _Stop:
        _say("\nStopping (API, worker, Stripe, Temporal, PostgreSQL)...")
        code = 0
    except StackError as exc:
        print(f"medivoy dev: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # A second Ctrl-C must not interrupt the shutdown halfway; the timeouts bound it.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if stack.started_anything:
        _say("Stopped." if code == 0 else "Stopped everything that had started.")
    return code
