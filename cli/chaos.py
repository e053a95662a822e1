"""`medivoy chaos` (`make chaos`): booking journeys with payment while the stack is being broken.

It starts its own embedded stack (the same DevStack as `medivoy dev`: PostgreSQL, Temporal, the
embedded Stripe, the worker and the API) in a fresh data dir on free ports, drives N booking
journeys over HTTP the way clients do (request, review, accept, quotation, confirm, checkout, pay
with a test card at the embedded Stripe, wait for invoice_sent), and meanwhile SIGKILLs the worker
at random moments, restarts the Temporal dev server once and PostgreSQL once. Then it checks what
must hold whatever happened: every journey reached invoice_sent; one succeeded charge at the
embedded Stripe per booking, one invoice, one e-mail per notification step, a gap-free status
history; no workflow stuck. It prints what it did and what it found, and exits 1 on any loss or
duplicate. Every wait is bounded; it stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ADMIN_EMAIL = "chaos-admin@example.com"
ADMIN_PASSWORD = "Chaos-Monkey-Harbor-2026!"
PATIENT_PASSWORD = "Chaos-Patient-Lantern-2026!"
PATH = [
    "requested",
    "under_review",
    "accepted",
    "quotation_sent",
    "confirmed",
    "payment_pending",
    "payment_completed",
    "invoice_sent",
]
# The e-mails a patient gets on this path (the patient's own confirmation is not mailed back),
# plus the invoice's own e-mail ("Invoice MV-INV-… for MV-BK-…").
MAILED_STEPS = [
    "Requested",
    "Under review",
    "Accepted",
    "Quotation sent",
    "Payment pending",
    "Payment completed",
    "Invoice sent",
]
QUOTE = [("Knee replacement", "4200.00"), ("Hospital stay, 5 nights", "800.00")]
AMOUNT = "5000.00"
HTTP_TIMEOUT = 30.0
STEP_DEADLINE = 300.0  # one journey step, retries included
SETTLE_DEADLINE = 600.0  # after the last journey: until every booking is invoiced


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Journey:
    index: int
    patient: int
    booking_id: str | None = None
    booking_number: str | None = None
    payment_id: str | None = None
    intent_id: str | None = None
    retries: int = 0
    read_token: str = ""
    # Each move's Idempotency-Key is this and the move's target status.
    key_prefix: str = ""
    asks: dict[str, tuple[str, str, str, dict[str, Any]]] = field(default_factory=dict)
    divergences: list[str] = field(default_factory=list)
    # What the API answered when it did not answer 2xx/409 (HTTP 503, ConnectError, ...).
    answers: Counter[str] = field(default_factory=Counter)
    done: bool = False
    error: str | None = None


@dataclass
class Did:
    worker_kills: int = 0
    temporal_restarts: int = 0
    postgres_restarts: int = 0
    unplanned_deaths: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)

    def note(self, started: float, what: str) -> None:
        self.events.append(f"{time.monotonic() - started:7.1f} s  {what}")


class StepFailed(Exception):
    pass


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop everything, check nothing."""


class Client:
    """HTTP with retries on what a broken stack answers (connection errors, 5xx, 429)."""

    def __init__(self, base: str, journey: Journey) -> None:
        self.base = base
        self.journey = journey

    async def call(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        token: str | None = None,
        *,
        ok_conflict: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        deadline = time.monotonic() + STEP_DEADLINE
        delay = 0.5
        while True:
            problem: str
            try:
                answer = await http.request(
                    method, self.base + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs
                )
                if answer.status_code < 300 or (ok_conflict and answer.status_code == 409):
                    return answer
                if answer.status_code < 500 and answer.status_code != 429:
                    raise StepFailed(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
                problem = f"HTTP {answer.status_code}"
            except httpx.TransportError as exc:
                problem = type(exc).__name__
            self.journey.answers[problem] += 1
            if time.monotonic() + delay > deadline:
                raise StepFailed(f"{method} {path}: still {problem} after {STEP_DEADLINE:.0f} s")
            self.journey.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _data(answer: httpx.Response | None) -> dict[str, Any]:
    assert answer is not None
    data: dict[str, Any] = answer.json()["data"]
    return data


async def _status(client: Client, http: httpx.AsyncClient, token: str) -> str:
    answer = await client.call(http, "GET", f"/bookings/{client.journey.booking_id}", token)
    return str(_data(answer)["status"])


async def _send(client: Client, http: httpx.AsyncClient, target: str) -> httpx.Response | None:
    """The move, with its own Idempotency-Key, asked again with that key on a 5xx or a lost
    answer until it is answered: an attempt that timed out (503) may still be applied by its
    workflow, and its retry then gets that first answer instead of doing it twice (a quotation
    sent again would be a second quotation)."""
    token, method, path, body = client.journey.asks[target]
    key = f"{client.journey.key_prefix}-{target}"
    return await client.call(
        http, method, path, token, ok_conflict=True, headers={"Idempotency-Key": key}, json=body
    )


def _workflow_at(answer: httpx.Response) -> str | None:
    """The status the workflow holds, from its refusal ("cannot move from X to Y")."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        found = re.search(r"from (\w+) to", answer.json()["error"]["message"])
        if found and found.group(1) in PATH:
            return found.group(1)
    return None


async def _move(client: Client, http: httpx.AsyncClient, target: str) -> None:
    """One move, retried with its Idempotency-Key (see _send) until answered.

    A refusal that shows the workflow behind its own row (the row says under_review, the
    workflow still requested: the status write of a move landed, the move itself was lost with
    its workflow task) is recorded, and the lost move is asked again so the journey goes on."""
    journey = client.journey
    deadline = time.monotonic() + STEP_DEADLINE
    while time.monotonic() < deadline:
        row = await _status(client, http, journey.read_token)
        if PATH.index(row) >= PATH.index(target):
            return
        answer = await _send(client, http, target)
        if answer is not None and answer.status_code < 300:
            return
        if answer is not None:  # 409
            held = _workflow_at(answer)
            if held is not None and PATH.index(held) < PATH.index(row):
                journey.divergences.append(f"workflow at {held}, its row at {row}")
                lost = PATH[PATH.index(held) + 1]
                if lost in journey.asks:
                    await _send(client, http, lost)
                continue
        journey.retries += 1  # a 409 re-read: the row may not show the move yet
        await asyncio.sleep(1.0)
    raise StepFailed(f"booking {journey.booking_id} did not reach {target}")


def _confirm_at_stripe(api_base: str, intent_id: str) -> None:
    import stripe

    from runtime import embedded_stripe

    client = stripe.StripeClient(
        embedded_stripe.SECRET_KEY, base_addresses={"api": api_base}, max_network_retries=0
    )
    intent = client.v1.payment_intents.retrieve(intent_id)
    if intent.status == "succeeded":
        return  # an earlier attempt paid it
    if intent.status == "requires_payment_method":
        client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    client.v1.payment_intents.confirm(intent_id)


async def _journey(
    journey: Journey,
    base: str,
    stripe_base: str,
    run: str,
    patient: str,
    admin: str,
    hospital_id: str,
    http: httpx.AsyncClient,
) -> None:
    client = Client(base, journey)
    created = await client.call(
        http,
        "POST",
        "/bookings",
        patient,
        headers={"Idempotency-Key": f"{run}-{journey.index}"},
        json={"hospital_id": hospital_id},
    )
    booking = _data(created)
    journey.booking_id, journey.booking_number = booking["id"], booking["booking_number"]
    valid_until = (datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    quotation = {
        "items": [{"description": d, "amount": a} for d, a in QUOTE],
        "currency": "USD",
        "valid_until": valid_until,
    }
    moves = f"/bookings/{journey.booking_id}"
    journey.read_token = admin
    journey.key_prefix = f"{run}-{journey.index}"
    journey.asks = {
        "under_review": (admin, "PATCH", moves + "/status", {"status": "under_review"}),
        "accepted": (admin, "PATCH", moves + "/status", {"status": "accepted"}),
        "quotation_sent": (admin, "POST", moves + "/quotation", quotation),
        "confirmed": (patient, "PATCH", moves + "/status", {"status": "confirmed"}),
    }
    for target in journey.asks:
        await _move(client, http, target)
    checkout = _data(
        await client.call(
            http,
            "POST",
            "/payments",
            patient,
            headers={"Idempotency-Key": f"{run}-{journey.index}-pay"},
            json={
                "booking_id": journey.booking_id,
                "amount": AMOUNT,
                "currency": "USD",
                "payment_gateway": "stripe",
                "payment_method": "card",
            },
        )
    )
    journey.payment_id, journey.intent_id = checkout["payment_id"], checkout["gateway_id"]
    deadline = time.monotonic() + STEP_DEADLINE
    while True:
        try:
            await asyncio.to_thread(_confirm_at_stripe, stripe_base, str(journey.intent_id))
            break
        except Exception as exc:  # the stripe SDK's errors: the embedded Stripe may be busy
            if time.monotonic() > deadline:
                raise StepFailed(f"paying {journey.intent_id}: {exc}") from exc
            journey.retries += 1
            await asyncio.sleep(1.0)
    deadline = time.monotonic() + STEP_DEADLINE
    while await _status(client, http, patient) != "invoice_sent":
        if time.monotonic() > deadline:
            raise StepFailed(f"booking {journey.booking_id} not invoiced in {STEP_DEADLINE:.0f} s")
        await asyncio.sleep(1.0)
    journey.done = True


class Chaos:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.run = f"chaos-{uuid.uuid4().hex[:8]}"
        self.did = Did()
        self.started = time.monotonic()
        self.lock = asyncio.Lock()  # one breakage at a time
        self.breaking: set[str] = set()  # children we are killing on purpose
        self.booking_of: dict[str, str] = {}
        self.charges = 0

    # the stack -------------------------------------------------------------------------------

    def start_stack(self, data_dir: Path) -> Any:
        from cli.dev import DevStack
        from runtime.settings import Settings

        api, temporal, ui, postgres, stripe = _free_ports(5)
        for name in [k for k in os.environ if k.upper().startswith("MEDIVOY_")]:
            del os.environ[name]
        os.environ.update(
            MEDIVOY_DATA_DIR=str(data_dir),
            MEDIVOY_API_PORT=str(api),
            MEDIVOY_PUBLIC_BASE_URL=f"http://127.0.0.1:{api}",
            MEDIVOY_TEMPORAL_PORT=str(temporal),
            MEDIVOY_TEMPORAL_UI_PORT=str(ui),
            MEDIVOY_POSTGRES_PORT=str(postgres),
            MEDIVOY_STRIPE_PORT=str(stripe),
            MEDIVOY_ADMIN_EMAIL=ADMIN_EMAIL,
            MEDIVOY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            # Logins are not what is under test: a cheap hash keeps 2 cores on the journeys.
            MEDIVOY_PASSWORD_HASH_TIME_COST="1",
            MEDIVOY_PASSWORD_HASH_MEMORY_KIB="8192",
            MEDIVOY_PASSWORD_HASH_PARALLELISM="1",
            # A webhook lost while the stack was down is made good by reading Stripe back.
            MEDIVOY_PAYMENT_RECONCILE_MINUTES="1",
            MEDIVOY_LOG_JSON="false",
        )
        # No developer's .env: the stack and its children run in the data dir.
        os.chdir(data_dir)
        stack = DevStack(Settings(_env_file=None))
        signal.signal(signal.SIGINT, stack.on_signal)
        signal.signal(signal.SIGTERM, stack.on_signal)
        stack.start()
        return stack

    def child(self, stack: Any, name: str) -> Any:
        return next(c for c in stack.children if c.name == name)

    def supervise(self, stack: Any) -> None:
        """Start again at once a child that died without us killing it (and count it)."""
        for child in stack.children:
            if child.name in self.breaking or child.process.poll() is None:
                continue
            self.did.unplanned_deaths[child.name] += 1
            self.did.note(
                self.started, f"{child.name} died on its own ({child.process.returncode})"
            )
            stack._spawn(child.name, stack.env, replacing=child)

    def kill_worker(self, stack: Any) -> None:
        """SIGKILL the worker and wait for it to be gone (in a thread: it may take a moment).
        The breaker starts the new one from the main thread (respawn_worker)."""
        worker = self.child(stack, "worker")
        self.breaking.add("worker")
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)
        self.did.worker_kills += 1
        self.did.note(self.started, f"worker SIGKILLed (kill {self.did.worker_kills})")

    def respawn_worker(self, stack: Any) -> None:
        """On the main thread, never in asyncio.to_thread's pool: a child gets SIGTERM when the
        thread that started it ends (PR_SET_PDEATHSIG, cli/dev._die_with_parent), and the
        pool's threads end with the asyncio.run that made them (a worker started there was
        stopped at the end of the journeys and counted as "died on its own")."""
        try:
            stack._spawn("worker", stack.env, replacing=self.child(stack, "worker"))
        finally:
            self.breaking.discard("worker")

    def restart_temporal(self, stack: Any) -> None:
        self.did.note(self.started, "Temporal dev server stopping")
        stack.temporal.stop()
        time.sleep(2.0)
        stack.temporal.start()
        self.did.temporal_restarts += 1
        self.did.note(self.started, "Temporal dev server started again")

    def restart_postgres(self, stack: Any) -> None:
        self.did.note(self.started, "PostgreSQL stopping (fast shutdown)")
        process = stack.postgres.process
        process.send_signal(signal.SIGINT)
        process.wait(30)
        time.sleep(2.0)
        stack.postgres.start()
        self.did.postgres_restarts += 1
        self.did.note(self.started, "PostgreSQL started again")

    # the run ---------------------------------------------------------------------------------

    def plan(self, total: int) -> list[tuple[float, str]]:
        """The breakages, each due once this share of the journeys has finished: the worker
        kills at random points over the whole run, Temporal at a quarter, PostgreSQL at half."""
        plan = [(self.rng.uniform(0.0, 0.95), "worker") for _ in range(self.args.worker_kills)]
        plan += [(0.25, "temporal"), (0.5, "postgres")]
        return sorted(plan)

    async def breaker(self, stack: Any, journeys: list[Journey]) -> None:
        """Breaks the stack as planned while journeys are in flight, one thing at a time, with
        a random pause (and the worker back for a moment) between two breakages. What is still
        due when the journeys have all finished happens then (and shows in the report)."""
        actions = {
            "worker": self.kill_worker,
            "temporal": self.restart_temporal,
            "postgres": self.restart_postgres,
        }
        for due, what in self.plan(len(journeys)):
            while stack.stop_requested is None:
                finished = sum(1 for j in journeys if j.done or j.error)
                if finished >= due * len(journeys):
                    break
                await asyncio.sleep(0.3)
            if stack.stop_requested is not None:
                return
            await asyncio.sleep(self.rng.uniform(0.0, self.args.kill_every))
            async with self.lock:
                await asyncio.to_thread(actions[what], stack)
                if what == "worker":
                    # Sometimes back at once, sometimes not.
                    await asyncio.sleep(self.rng.uniform(0.0, 2.0))
                    self.respawn_worker(stack)
            await asyncio.sleep(self.args.kill_every / 2)

    async def watcher(self, stack: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if stack.stop_requested is not None:
                return
            async with self.lock:
                self.supervise(stack)
            await asyncio.sleep(0.5)

    async def drive(self, stack: Any) -> list[Journey]:
        base = stack.api_url + "/api/v1"
        hospital_id = str(uuid.uuid4())
        with psycopg.connect(stack.env["MEDIVOY_DATABASE_URL"]) as conn:
            conn.execute(
                "INSERT INTO hospitals (id, name, country) VALUES (%s, %s, 'Turkey')",
                (hospital_id, f"Chaos Clinic {self.run}"),
            )
        async with httpx.AsyncClient() as http:
            tokens = []
            for p in range(self.args.patients):
                email = f"{self.run}-patient-{p}@example.com"
                await http.post(
                    base + "/auth/register",
                    json={
                        "email": email,
                        "password": PATIENT_PASSWORD,
                        "first_name": "Chaos",
                        "last_name": f"Patient {p}",
                    },
                    timeout=HTTP_TIMEOUT,
                )
                login = await http.post(
                    base + "/auth/login",
                    json={"email": email, "password": PATIENT_PASSWORD},
                    timeout=HTTP_TIMEOUT,
                )
                tokens.append(_data(login)["access_token"])
            admin = _data(
                await http.post(
                    base + "/auth/login",
                    json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                    timeout=HTTP_TIMEOUT,
                )
            )["access_token"]

            journeys = [Journey(i, i % self.args.patients) for i in range(self.args.journeys)]
            queue: asyncio.Queue[Journey] = asyncio.Queue()
            for journey in journeys:
                queue.put_nowait(journey)

            async def client_loop() -> None:
                while not queue.empty() and stack.stop_requested is None:
                    journey = queue.get_nowait()
                    try:
                        await _journey(
                            journey,
                            base,
                            str(stack.stripe_url),
                            self.run,
                            tokens[journey.patient],
                            admin,
                            hospital_id,
                            http,
                        )
                    except (StepFailed, httpx.HTTPError, KeyError, ValueError) as exc:
                        journey.error = str(exc)[:300]
                    self.progress(journeys)

            stop = asyncio.Event()
            watcher = asyncio.create_task(self.watcher(stack, stop))
            breaker = asyncio.create_task(self.breaker(stack, journeys))
            clients = asyncio.gather(*(client_loop() for _ in range(self.args.clients)))
            deadline = time.monotonic() + self.args.timeout
            try:
                while not (clients.done() and breaker.done()):
                    if stack.stop_requested is not None:
                        raise Interrupted
                    if time.monotonic() > deadline:
                        for journey in journeys:
                            if not journey.done and not journey.error:
                                journey.error = f"not finished within {self.args.timeout:.0f} s"
                        break
                    waiting: set[asyncio.Future[Any]] = {clients, breaker}
                    await asyncio.wait(waiting, timeout=0.5)
            finally:
                for task in (clients, breaker):
                    task.cancel()
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(clients, breaker, watcher, return_exceptions=True)
        print(file=sys.stderr)
        return journeys

    def progress(self, journeys: list[Journey]) -> None:
        done = sum(1 for j in journeys if j.done)
        failed = sum(1 for j in journeys if j.error)
        width = 40
        filled = int(width * (done + failed) / len(journeys))
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done + failed}/{len(journeys)} "
            f"journeys ({failed} failed), worker kills {self.did.worker_kills}, "
            f"Temporal restarts {self.did.temporal_restarts}, "
            f"PostgreSQL restarts {self.did.postgres_restarts}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    # the checks ------------------------------------------------------------------------------

    async def settle(self, stack: Any, journeys: list[Journey]) -> None:
        """Until every booking that was created is invoiced and no notification is still being
        delivered (a mail whose delivery met the PostgreSQL restart is retried a little later,
        and counting it before then would call it lost), or the deadline."""
        from runtime.settings import Settings
        from runtime.temporal import connect

        ids = [j.booking_id for j in journeys if j.booking_id]
        deadline = time.monotonic() + SETTLE_DEADLINE
        client = None
        while time.monotonic() < deadline:
            if stack.stop_requested is not None:
                raise Interrupted
            async with self.lock:
                self.supervise(stack)
            with psycopg.connect(stack.env["MEDIVOY_DATABASE_URL"]) as conn:
                left = conn.execute(
                    "SELECT count(*) FROM bookings WHERE id = ANY(%s) AND status <> 'invoice_sent'",
                    (ids,),
                ).fetchone()
            if left == (0,):
                if client is None:
                    address = stack.env["MEDIVOY_TEMPORAL_ADDRESS"]
                    client = await connect(Settings(_env_file=None), address)
                delivering = await client.count_workflows(
                    "WorkflowType = 'DeliverNotification' AND ExecutionStatus = 'Running'"
                )
                if delivering.count == 0:
                    return
            await asyncio.sleep(2.0)

    def check_database(self, stack: Any, journeys: list[Journey]) -> list[tuple[str, int, str]]:
        problems: list[tuple[str, int, str]] = []
        with psycopg.connect(stack.env["MEDIVOY_DATABASE_URL"]) as conn:
            for journey in journeys:
                if journey.booking_id is None:
                    problems.append(("loss", journey.index, f"never created: {journey.error}"))
                    continue
                b = journey.booking_id
                for seen in sorted(set(journey.divergences)):
                    problems.append(("diverged", journey.index, seen))
                row = conn.execute(
                    "SELECT status, payment_status, booking_number, patient_id FROM bookings "
                    "WHERE id = %s",
                    (b,),
                ).fetchone()
                if row is None:
                    problems.append(("loss", journey.index, f"booking {b} not stored"))
                    continue
                status, payment_status, number, patient_id = row
                if status != "invoice_sent" or payment_status != "paid":
                    why = f" ({journey.error})" if journey.error else ""
                    problems.append(
                        ("loss", journey.index, f"{number} is {status}/{payment_status}{why}")
                    )
                history = conn.execute(
                    "SELECT seq, from_status, to_status FROM booking_status_history "
                    "WHERE booking_id = %s ORDER BY seq",
                    (b,),
                ).fetchall()
                seqs = [h[0] for h in history]
                if seqs != list(range(1, len(seqs) + 1)):
                    problems.append(("gap", journey.index, f"{number} history seqs {seqs}"))
                chain = [h[2] for h in history]
                if chain != PATH[: len(chain)] or any(
                    history[i][1] != history[i - 1][2] for i in range(1, len(history))
                ):
                    problems.append(("history", journey.index, f"{number} history {chain}"))
                payments = conn.execute(
                    "SELECT status, count(*) FROM payments WHERE booking_id = %s GROUP BY status",
                    (b,),
                ).fetchall()
                by_status: dict[str, int] = {str(k): int(v) for k, v in payments}
                completed = by_status.get("completed", 0)
                if completed != 1:
                    kind = "duplicate" if completed > 1 else "loss"
                    problems.append((kind, journey.index, f"{number} payments {by_status}"))
                invoices = conn.execute(
                    "SELECT invoice_number FROM invoices WHERE booking_id = %s", (b,)
                ).fetchall()
                if len(invoices) != 1:
                    kind = "duplicate" if len(invoices) > 1 else "loss"
                    problems.append((kind, journey.index, f"{number} invoices {len(invoices)}"))
                email = conn.execute(
                    "SELECT u.email FROM patients p JOIN users u ON u.id = p.user_id "
                    "WHERE p.id = %s",
                    (patient_id,),
                ).fetchone()
                mails = Counter(
                    r[0]
                    for r in conn.execute(
                        "SELECT subject FROM outbox_messages WHERE channel = 'email' "
                        "AND recipient = %s AND subject LIKE %s",
                        (email[0] if email else "", f"%{number}%"),
                    ).fetchall()
                )
                expected = [f"Booking {number}: {step}" for step in MAILED_STEPS]
                if invoices:
                    expected.append(f"Invoice {invoices[0][0]} for {number}")
                for subject in expected:
                    if mails.get(subject, 0) == 0:
                        problems.append(("loss", journey.index, f"no e-mail {subject!r}"))
                for subject, count in mails.items():
                    if count > 1:
                        problems.append(("duplicate", journey.index, f"{count}x {subject!r}"))
        return problems

    def read_payments(self, stack: Any) -> None:
        """Which booking each payment is for (read while the database still runs)."""
        with psycopg.connect(stack.env["MEDIVOY_DATABASE_URL"]) as conn:
            self.booking_of = {
                str(p): str(b)
                for p, b in conn.execute(
                    "SELECT id, booking_id FROM payments WHERE booking_id IS NOT NULL"
                ).fetchall()
            }

    def check_stripe(self, stack: Any, journeys: list[Journey]) -> list[tuple[str, int, str]]:
        """One succeeded charge per booking at the embedded Stripe, read from its own store
        (after it stopped: the file is then final)."""
        from runtime.stack import STRIPE_STATE_FILE

        with open(stack.data_dir / STRIPE_STATE_FILE, "rb") as f:
            store: dict[str, Any] = pickle.load(f)  # our own file
        intents = {
            obj.id: (obj.metadata or {}).get("payment_id")
            for key, obj in store.items()
            if key.startswith("payment_intent:")
        }
        booking_of = self.booking_of
        charges: defaultdict[str, int] = defaultdict(int)
        for key, obj in store.items():
            if key.startswith("charge:") and getattr(obj, "status", None) == "succeeded":
                booking = booking_of.get(str(intents.get(obj.payment_intent)))
                if booking:
                    charges[booking] += 1
        problems: list[tuple[str, int, str]] = []
        for journey in journeys:
            if journey.booking_id is None:
                continue
            count = charges.get(journey.booking_id, 0)
            if count != 1:
                kind = "duplicate" if count > 1 else "loss"
                problems.append((kind, journey.index, f"{count} charges at Stripe"))
        self.charges = sum(charges.values())
        return problems

    async def check_workflows(self, stack: Any) -> tuple[int, list[tuple[str, int, str]]]:
        """No workflow stuck: none retrying a workflow task or an activity over and over."""
        from runtime.settings import Settings
        from runtime.temporal import connect

        settings = Settings(_env_file=None)
        client = await connect(settings, stack.env["MEDIVOY_TEMPORAL_ADDRESS"])
        problems: list[tuple[str, int, str]] = []
        running = 0
        async for execution in client.list_workflows("ExecutionStatus='Running'"):
            running += 1
            described = await client.get_workflow_handle(
                execution.id, run_id=execution.run_id
            ).describe()
            raw = described.raw_description
            if raw.pending_workflow_task.attempt > 2:
                problems.append(
                    (
                        "stuck",
                        -1,
                        f"{execution.id}: workflow task attempt "
                        f"{raw.pending_workflow_task.attempt}",
                    )
                )
            for activity in raw.pending_activities:
                if activity.attempt > 5:
                    problems.append(
                        (
                            "stuck",
                            -1,
                            f"{execution.id}: {activity.activity_type.name} attempt "
                            f"{activity.attempt} ({activity.last_failure.message[:120]})",
                        )
                    )
        return running, problems


def run_chaos(args: Any) -> int:
    from cli.dev import StackError, _Stop

    keep = args.data_dir is not None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="medivoy-chaos-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    chaos = Chaos(args)
    stack = None
    stopped = False
    code = 1
    try:
        print(f"Chaos run {chaos.run}: data in {data_dir}", flush=True)
        stack = chaos.start_stack(data_dir)
        journeys = asyncio.run(chaos.drive(stack))
        asyncio.run(chaos.settle(stack, journeys))
        running, stuck = asyncio.run(chaos.check_workflows(stack))
        problems = chaos.check_database(stack, journeys) + stuck
        chaos.read_payments(stack)
        stack.stop()
        stopped = True
        problems += chaos.check_stripe(stack, journeys)
        code = report(chaos, journeys, problems, running)
    except StackError as exc:
        print(f"medivoy chaos: {exc}", file=sys.stderr)
    except (Interrupted, _Stop):
        print("\nmedivoy chaos: interrupted; stopping everything it started", file=sys.stderr)
        code = 130
    finally:
        if stack is not None and not stopped:
            stack.stop()  # after a failure or Ctrl-C too
        os.chdir(cwd)
        if not keep and code == 0:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"Data and logs kept in {data_dir}")
    return code


def report(
    chaos: Chaos, journeys: list[Journey], problems: list[tuple[str, int, str]], running: int
) -> int:
    did = chaos.did
    elapsed = time.monotonic() - chaos.started
    done = sum(1 for j in journeys if j.done)
    kinds = Counter(kind for kind, _, _ in problems)
    print()
    print("What it did")
    print()
    print("| | |")
    print("| --- | --- |")
    print(f"| journeys (booking + payment) | {len(journeys)} with {chaos.args.clients} clients |")
    print(f"| worker SIGKILLs | {did.worker_kills} |")
    print(f"| Temporal dev server restarts | {did.temporal_restarts} |")
    print(f"| PostgreSQL restarts | {did.postgres_restarts} |")
    deaths = ", ".join(f"{k} {v}" for k, v in sorted(did.unplanned_deaths.items())) or "none"
    print(f"| children that died on their own (restarted) | {deaths} |")
    print(
        f"| client retries (5xx, connection errors, 409 re-reads) | "
        f"{sum(j.retries for j in journeys)} |"
    )
    answers: Counter[str] = Counter()
    for journey in journeys:
        answers.update(journey.answers)
    seen = ", ".join(f"{k}: {v}" for k, v in answers.most_common()) or "none"
    print(f"| what the API answered instead (each retried) | {seen} |")
    print(f"| wall time | {elapsed:.0f} s |")
    print()
    print("What it found")
    print()
    print("| check | result |")
    print("| --- | --- |")
    print(f"| journeys the client saw through to invoice_sent | {done}/{len(journeys)} |")
    for kind, label in (
        ("loss", "losses (not invoiced, missing payment, invoice or e-mail)"),
        ("duplicate", "duplicates (charges, payments, invoices, e-mails)"),
        ("gap", "histories with a gap"),
        ("history", "histories off the path"),
        ("stuck", "workflows stuck"),
        (
            "diverged",
            "bookings whose workflow fell behind its own row (a move lost after its write)",
        ),
    ):
        print(f"| {label} | {kinds.get(kind, 0)} |")
    print(f"| succeeded charges at the embedded Stripe | {chaos.charges} |")
    print(f"| workflows still running (waiting on timers, as designed) | {running} |")
    minimums = (
        did.worker_kills >= chaos.args.worker_kills
        and did.temporal_restarts == 1
        and did.postgres_restarts == 1
    )
    print(
        f"| breakage as asked (≥{chaos.args.worker_kills} kills, 1+1 restarts) | "
        f"{'yes' if minimums else 'NO'} |"
    )
    print()
    if did.events:
        print("Timeline")
        for event in did.events:
            print(f"  {event}")
        print()
    for kind, index, what in problems[:50]:
        print(f"  {kind:9} journey {index:>4}: {what}")
    if len(problems) > 50:
        print(f"  ... and {len(problems) - 50} more")
    ok = not problems and minimums and done == len(journeys)
    print("PASS: nothing lost, nothing twice." if ok else "FAIL")
    return 0 if ok else 1
