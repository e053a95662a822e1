"""`make bench` / `python -m bench`: one run over a stack, the report under bench/results/.

Phases (each bounded by a count, every request by a timeout): booking journeys and toy journeys
at each client count; one move at a time vs a plain SQL UPDATE endpoint; lists at --list-rows
bookings; N idle bookings on timers (worker memory, creates and moves among them); a warm start
of our own `medivoy dev`. Everything started here is stopped here, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text
from temporalio.client import Client

from bench import stats, toy
from bench.people import People, Person, seed_bookings, seed_people
from bench.stack import ROOT, Stack, free_port, scrape
from runtime.db import make_engine

RESULTS = Path(__file__).resolve().parent / "results"
HTTP_TIMEOUT = 60.0
MOVES = ("under_review", "accepted", "awaiting_medical_details", "quotation", "confirmed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", type=Path, help="data dir of a running `medivoy dev` to drive")
    p.add_argument("--clients", default="1,5,10", help="client counts (default 1,5,10)")
    p.add_argument("--journeys", type=int, default=20, help="journeys per client count")
    p.add_argument("--moves", type=int, default=60, help="sequential moves (and SQL updates)")
    p.add_argument("--list-rows", type=int, default=100_000, help="bookings seeded for lists")
    p.add_argument("--list-requests", type=int, default=30, help="requests per list kind")
    p.add_argument("--idle", type=int, default=200, help="idle bookings waiting on timers")
    p.add_argument("--idle-clients", type=int, default=5, help="clients creating them")
    p.add_argument(
        "--worker-cache", type=int, help="MEDIVOY_WORKER_MAX_CACHED_WORKFLOWS (own stack)"
    )
    p.add_argument(
        "--skip", default="", help="phases to skip: journeys,sequential,lists,idle,start"
    )
    p.add_argument("--label", default="", help="result file name (default: the UTC time)")
    p.add_argument("--note", action="append", default=[], help="a line for the report")
    return p.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace, stack: Stack, progress: Progress) -> None:
        self.args = args
        self.stack = stack
        self.progress = progress
        self.http = httpx.AsyncClient(
            base_url=stack.api_url + "/api/v1",
            timeout=HTTP_TIMEOUT,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        self.engine = make_engine(stack.database_url, pool_size=2)
        self.temporal: Client | None = None
        self.people: People | None = None
        self.result: dict[str, Any] = {}
        self.errors = 0

    # helpers -------------------------------------------------------------------------------

    def _people(self) -> People:
        assert self.people is not None
        return self.people

    async def _timed(self, bucket: list[float], call: Awaitable[httpx.Response]) -> httpx.Response:
        began = time.perf_counter()
        response = await call
        took = time.perf_counter() - began
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        bucket.append(took)
        return response

    async def _attempt(self, bucket: list[float], call: Awaitable[httpx.Response]) -> bool:
        """`_timed`, with a failure counted (in self.errors) and shown instead of raised."""
        try:
            await self._timed(bucket, call)
        except Exception as exc:
            self.errors += 1
            self.progress.console.print(f"[red]error[/red] {type(exc).__name__}: {exc}"[:300])
            return False
        return True

    def _body(self, patient: Person) -> dict[str, Any]:
        people = self._people()
        return {
            "hospital_id": str(people.hospital_id),
            "treatment_id": str(people.treatment_id),
            "booking_type": "treatment",
            "requested_date": (date.today() + timedelta(days=30)).isoformat(),  # noqa: DTZ011
            "medical_details": {"diagnosis": "bench"},
            "notes": "bench",
        }

    async def create(self, patient: Person, bucket: list[float]) -> str:
        response = await self._timed(
            bucket, self.http.post("/bookings", headers=patient.headers, json=self._body(patient))
        )
        return str(response.json()["data"]["id"])

    def _move_call(self, booking_id: str, move: str, patient: Person) -> Awaitable[httpx.Response]:
        people = self._people()
        if move == "quotation":
            valid = (datetime.now(UTC) + timedelta(days=14)).isoformat()
            return self.http.post(
                f"/bookings/{booking_id}/quotation",
                headers=people.hospital_admin.headers,
                json={
                    "items": [{"description": "Surgery", "amount": "7000.00"}],
                    "currency": "usd",
                    "valid_until": valid,
                },
            )
        who = patient if move == "confirmed" else people.hospital_admin
        return self.http.patch(
            f"/bookings/{booking_id}/status",
            headers=who.headers,
            json={"status": move, "notes": "bench"},
        )

    async def _clients(
        self, clients: int, total: int, one: Callable[[int], Awaitable[None]], task: Any
    ) -> tuple[float, int]:
        """`total` calls of `one(i)` over `clients` concurrent loops; (seconds, errors)."""
        counter = iter(range(total))
        errors = 0

        async def loop(client: int) -> None:
            nonlocal errors
            for i in counter:
                try:
                    await one(client)
                except Exception as exc:  # counted and shown: the run goes on
                    errors += 1
                    if errors <= 3:
                        cause = exc.__cause__
                        self.progress.console.print(
                            f"[red]error[/red] {type(exc).__name__}: {exc}"
                            + (f" ({type(cause).__name__}: {cause})" if cause else "")
                        )
                self.progress.advance(task)
                del i

        began = time.perf_counter()
        await asyncio.gather(*(loop(c) for c in range(clients)))
        return time.perf_counter() - began, errors

    # phases --------------------------------------------------------------------------------

    async def setup(self) -> None:
        clients = max([*self.client_counts(), self.args.idle_clients, 1])
        self.people = await seed_people(self.engine, self.stack.jwt_secret, clients)
        self.temporal = await Client.connect(self.stack.temporal_address)

    def client_counts(self) -> list[int]:
        return [int(c) for c in str(self.args.clients).split(",") if c.strip()]

    async def journeys(self) -> None:
        levels = []
        for clients in self.client_counts():
            total = max(self.args.journeys, clients * 2)
            levels.append(
                {
                    "clients": clients,
                    "booking": await self._booking_level(clients, total),
                    "toy": await self._toy_level(clients, total),
                }
            )
        self.result["journeys"] = levels

    async def _booking_level(self, clients: int, total: int) -> dict[str, Any]:
        people = self._people()
        buckets: dict[str, list[float]] = {"create": [], **{m: [] for m in MOVES}}
        task = self.progress.add_task(f"booking journeys, {clients} clients", total=total)

        async def journey(client: int) -> None:
            patient = people.patients[client % len(people.patients)]
            booking_id = await self.create(patient, buckets["create"])
            for move in MOVES:
                await self._timed(buckets[move], self._move_call(booking_id, move, patient))

        seconds, errors = await self._clients(clients, total, journey, task)
        done = total - errors
        return {
            "journeys": done,
            "seconds": seconds,
            "journeys_per_s": done / seconds if seconds else math.nan,
            "errors": errors,
            "moves": {name: stats.summary(b) for name, b in buckets.items()},
            "raw": buckets,
        }

    async def _toy_level(self, clients: int, total: int) -> dict[str, Any]:
        assert self.temporal is not None
        temporal = self.temporal
        buckets: dict[str, list[float]] = {"create": [], "move": []}
        task = self.progress.add_task(f"toy journeys, {clients} clients", total=total)
        queue = self.toy_queue

        async def timed(bucket: list[float], call: Awaitable[int]) -> None:
            began = time.perf_counter()
            await call
            bucket.append(time.perf_counter() - began)

        async def journey(client: int) -> None:
            workflow_id = f"bench-toy-{uuid.uuid4()}"
            await timed(buckets["create"], toy.create(temporal, workflow_id, queue, len(MOVES)))
            for _ in MOVES:
                await timed(buckets["move"], toy.move(temporal, workflow_id))

        seconds, errors = await self._clients(clients, total, journey, task)
        done = total - errors
        return {
            "journeys": done,
            "seconds": seconds,
            "journeys_per_s": done / seconds if seconds else math.nan,
            "errors": errors,
            "moves": {name: stats.summary(b) for name, b in buckets.items()},
            "raw": buckets,
        }

    async def sequential(self) -> None:
        people = self._people()
        n = self.args.moves
        task = self.progress.add_task("one move at a time (booking, then SQL)", total=2 * n)
        patient = people.patients[0]
        bookings = [await self.create(patient, []) for _ in range(5)]
        # under_review <-> on_hold: a legal loop of hospital-side moves on each booking.
        for booking_id in bookings:
            await self._timed([], self._move_call(booking_id, "under_review", patient))
        state = {b: "under_review" for b in bookings}
        errors_before = self.errors
        before_db = await self._xacts()
        before_sdk = scrape(self.stack.sdk_metrics_url)
        moves: list[float] = []
        for i in range(n):
            booking_id = bookings[i % len(bookings)]
            target = "on_hold" if state[booking_id] == "under_review" else "under_review"
            if await self._attempt(moves, self._move_call(booking_id, target, patient)):
                state[booking_id] = target
            self.progress.advance(task)
        await asyncio.sleep(2)  # the notifications the moves started run to their end
        after_sdk = scrape(self.stack.sdk_metrics_url)
        after_db = await self._xacts()
        history = await self._history_anatomy(bookings[0], n // len(bookings) + 1)
        plain = await self._plain(n, task)
        self.result["sequential"] = {
            "latencies": {
                "booking move over HTTP": stats.summary(moves),
                "plain SQL UPDATE over HTTP": stats.summary(plain),
            },
            "booking move errors": self.errors - errors_before,
            "raw": {"booking": moves, "plain": plain},
        }
        self.result["anatomy"] = {
            "db transactions per move (API + worker)": (after_db - before_db) / n,
            **history,
            **self._sdk_deltas(before_sdk, after_sdk, n),
        }

    async def _xacts(self) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            )
        return int(value or 0)

    async def _history_anatomy(self, booking_id: str, moves: int) -> dict[str, float]:
        """What one booking's history holds per move (its create included as a move)."""
        assert self.temporal is not None
        history = await self.temporal.get_workflow_handle(f"booking-{booking_id}").fetch_history()
        counts: dict[str, int] = {}
        for event in history.events:
            name = type(event).__name__
            kind = event.WhichOneof("attributes") or name
            counts[kind] = counts.get(kind, 0) + 1
        per = max(moves + 1, 1)

        def count(kind: str) -> int:
            return counts.get(kind + "_event_attributes", 0)

        return {
            "history events per move": len(history.events) / per,
            "workflow tasks per move (booking workflow)": count("workflow_task_completed") / per,
            "local activities per move": count("marker_recorded") / per,
            "child workflows started per move": count("start_child_workflow_execution_initiated")
            / per,
            "updates accepted per move": count("workflow_execution_update_accepted") / per,
        }

    @staticmethod
    def _sdk_deltas(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
        """Mean latencies (ms) and counts per move from the worker's SDK metrics."""
        if not before or not after:
            return {}
        out: dict[str, float] = {}
        for name in sorted(after):
            if not name.endswith("_count") or "latency" not in name:
                continue
            base = name[: -len("_count")]
            count = after[name] - before.get(name, 0.0)
            total = after.get(base + "_sum", 0.0) - before.get(base + "_sum", 0.0)
            if count > 0:
                short = base.removeprefix("temporal_")
                out[f"worker {short} mean ms"] = total / count
                out[f"worker {short} per move"] = count / n
        return out

    async def _plain(self, n: int, task: Any) -> list[float]:
        """The same number of moves on the plain SQL endpoint, served the same way."""
        async with self.engine.begin() as conn:
            for statement in _plain_schema():
                await conn.execute(text(statement))
            ids = [uuid.uuid4() for _ in range(5)]
            for item in ids:
                await conn.execute(
                    text("INSERT INTO bench.items (id, status) VALUES (:id, 'under_review')"),
                    {"id": item},
                )
        port = free_port()
        server = _start_plain(self.stack.database_url, port)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT
            ) as plain:
                for _ in range(300):  # up to 30 s for it to listen
                    with contextlib.suppress(httpx.HTTPError):
                        await plain.patch(f"/items/{ids[0]}/status", json={"status": "x"})
                        break
                    await asyncio.sleep(0.1)
                times: list[float] = []
                statuses = {item: "under_review" for item in ids}
                for i in range(n):
                    item = ids[i % len(ids)]
                    target = "on_hold" if statuses[item] == "under_review" else "under_review"
                    await self._timed(
                        times, plain.patch(f"/items/{item}/status", json={"status": target})
                    )
                    statuses[item] = target
                    self.progress.advance(task)
                return times
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    async def lists(self) -> None:
        people = self._people()
        task = self.progress.add_task(f"seeding {self.args.list_rows:,} bookings by SQL", total=1)
        total = await seed_bookings(self.engine, people, self.args.list_rows)
        self.progress.advance(task)
        limit = 20
        deep = max(1, total // limit // 2)
        last = max(1, math.ceil(total / limit))
        kinds: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
            "admin page 1": (people.admin.headers, {"page": 1, "limit": limit}),
            f"admin deep page {deep}": (people.admin.headers, {"page": deep, "limit": limit}),
            f"admin last page {last}": (people.admin.headers, {"page": last, "limit": limit}),
            "admin status=confirmed page 1": (
                people.admin.headers,
                {"status": "confirmed", "page": 1, "limit": limit},
            ),
            "admin status=confirmed deep page": (
                people.admin.headers,
                {"status": "confirmed", "page": max(1, deep // 6), "limit": limit},
            ),
            "admin created_from (last 7 days)": (
                people.admin.headers,
                {
                    "created_from": (date.today() - timedelta(days=7)).isoformat(),  # noqa: DTZ011
                    "page": 1,
                    "limit": limit,
                },
            ),
            "hospital admin page 1": (people.hospital_admin.headers, {"page": 1, "limit": limit}),
            "patient page 1": (people.patients[0].headers, {"page": 1, "limit": limit}),
        }
        # The same depths by cursor: `after=` the meta.next of the page before (a client
        # walking the list); absent on a stack without cursors.
        for name, page_number in (
            (f"admin page {deep} by after=", deep),
            ("admin last page by after=", last),
        ):
            before = await self.http.get(
                "/bookings",
                headers=people.admin.headers,
                params={"page": max(1, page_number - 1), "limit": limit},
            )
            cursor = before.json().get("meta", {}).get("next") if before.is_success else None
            if cursor:
                kinds[name] = (people.admin.headers, {"after": cursor, "limit": limit})
        n = self.args.list_requests
        task = self.progress.add_task(f"lists at {total:,} bookings", total=n * len(kinds))
        latencies: dict[str, dict[str, float]] = {}
        raw: dict[str, list[float]] = {}
        for name, (headers, params) in kinds.items():
            times: list[float] = []
            await self.http.get("/bookings", headers=headers, params=params)  # warm
            for _ in range(n):
                await self._timed(times, self.http.get("/bookings", headers=headers, params=params))
                self.progress.advance(task)
            latencies[name] = stats.summary(times)
            raw[name] = times
        self.result["lists"] = {"bookings in table": total, "latencies": latencies, "raw": raw}

    async def idle(self) -> None:
        people = self._people()
        n = self.args.idle
        clients = self.args.idle_clients
        rss_before = {k: self.stack.rss_mib(k) for k in ("worker", "temporal", "api")}
        task = self.progress.add_task(f"{n} idle bookings ({clients} clients)", total=n)
        creates: list[float] = []
        ids: list[str] = []

        async def one(client: int) -> None:
            ids.append(await self.create(people.patients[client % len(people.patients)], creates))

        seconds, errors = await self._clients(clients, n, one, task)
        await asyncio.sleep(3)
        rss_after = {k: self.stack.rss_mib(k) for k in ("worker", "temporal", "api")}
        # The first-made bookings: the likeliest to have left the worker's cache.
        oldest = ids[: min(30, len(ids))]
        task = self.progress.add_task("moves on the oldest idle bookings", total=len(oldest))
        moves: list[float] = []
        errors_before = self.errors
        for booking_id in oldest:
            await self._attempt(
                moves, self._move_call(booking_id, "under_review", people.patients[0])
            )
            self.progress.advance(task)
        tenth = max(1, len(creates) // 10)
        made = max(len(ids), 1)
        self.result["open_bookings"] = {
            "idle bookings made": len(ids),
            "errors": errors,
            "errors of the moves on the oldest": self.errors - errors_before,
            "creates per s": len(ids) / seconds if seconds else math.nan,
            "latencies": {
                f"create, all ({clients} clients)": stats.summary(creates),
                "create, first tenth": stats.summary(creates[:tenth]),
                "create, last tenth": stats.summary(creates[-tenth:]),
                "move on one of the oldest (sequential)": stats.summary(moves),
            },
            "raw": {"creates": creates, "oldest moves": moves},
        }
        self.result["memory"] = {
            **{f"{k} RSS before MiB": v for k, v in rss_before.items()},
            **{f"{k} RSS after MiB": v for k, v in rss_after.items()},
            "worker KiB per idle booking": (rss_after["worker"] - rss_before["worker"])
            * 1024
            / made,
            "temporal KiB per idle booking": (rss_after["temporal"] - rss_before["temporal"])
            * 1024
            / made,
        }

    async def close(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()

    @property
    def toy_queue(self) -> str:
        return self.args.toy_queue  # type: ignore[no-any-return]


def _start_plain(database_url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.plain", database_url, str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _plain_schema() -> list[str]:
    from bench.plain import SCHEMA

    return [s for s in SCHEMA.split(";") if s.strip()]


def ratios(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    seq = (result.get("sequential") or {}).get("latencies") or {}
    move = seq.get("booking move over HTTP")
    plain = seq.get("plain SQL UPDATE over HTTP")
    if move and plain:
        out["move p50 / plain SQL p50"] = {
            "value": stats.ratio(move["p50_ms"], plain["p50_ms"]),
            "target": "≤ 5",
        }
        out["move p50 ms (sequential)"] = {"value": move["p50_ms"], "target": "≤ 30"}
        out["move p99 ms (sequential)"] = {"value": move["p99_ms"], "target": "≤ 100"}
    levels = result.get("journeys") or []
    if levels:
        top = levels[-1]
        out[f"booking j/s / toy j/s at {top['clients']} clients (%)"] = {
            "value": stats.ratio(top["booking"]["journeys_per_s"], top["toy"]["journeys_per_s"])
            * 100,
            "target": "≥ 50 (aim 80)",
        }
        five = next((lv for lv in levels if lv["clients"] == 5), None)
        if five:
            out["create p50 ms at 5 clients"] = {
                "value": five["booking"]["moves"]["create"]["p50_ms"],
                "target": "≤ 60",
            }
    open_ = (result.get("open_bookings") or {}).get("latencies") or {}
    if open_:
        first = open_.get("create, first tenth")
        last = open_.get("create, last tenth")
        if first and last:
            out["create p50 last tenth / first tenth of idle"] = {
                "value": stats.ratio(last["p50_ms"], first["p50_ms"]),
                "target": "≤ 1 (no slower)",
            }
        oldest = open_.get("move on one of the oldest (sequential)")
        if oldest:
            out["move on an old idle booking p99 ms"] = {
                "value": oldest["p99_ms"],
                "target": "≤ 100",
            }
    lists = (result.get("lists") or {}).get("latencies") or {}
    if lists:
        worst = max(lists.items(), key=lambda kv: kv[1]["p99_ms"])
        out[f"list p99 ms, worst ({worst[0]})"] = {"value": worst[1]["p99_ms"], "target": "≤ 30"}
    memory = result.get("memory") or {}
    if memory:
        per = memory.get("worker KiB per idle booking", math.nan)
        out["worker MiB at 10,000 idle (extrapolated)"] = {
            "value": memory.get("worker RSS before MiB", math.nan) + per * 10_000 / 1024,
            "target": "≤ 600",
        }
    start = result.get("start") or {}
    if "warm start s" in start:
        out["warm `medivoy dev` start s"] = {"value": start["warm start s"], "target": ""}
    return out


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    series: dict[str, list[float]] = {}
    levels = result.get("journeys") or []
    if levels:
        top = levels[-1]
        raw = top["booking"].get("raw") or {}
        series[f"booking move ({top['clients']} clients)"] = [
            t for name, b in raw.items() if name != "create" for t in b
        ]
        series[f"booking create ({top['clients']} clients)"] = raw.get("create", [])
        toy_raw = top["toy"].get("raw") or {}
        series[f"toy move ({top['clients']} clients)"] = toy_raw.get("move", [])
    seq = (result.get("sequential") or {}).get("raw") or {}
    if seq:
        series["booking move, sequential"] = seq.get("booking", [])
        series["plain SQL UPDATE, sequential"] = seq.get("plain", [])
    lists = (result.get("lists") or {}).get("raw") or {}
    for name in list(lists)[:2]:
        series[f"list: {name}"] = lists[name]
    for name, values in series.items():
        if values:
            ordered = sorted(v * 1000 for v in values)
            left.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name)
    left.set_xscale("log")
    left.set_xlabel("latency (ms, log)")
    left.set_ylabel("fraction of requests ≤ x")
    left.set_title("Latency distributions")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    if levels:
        xs = [lv["clients"] for lv in levels]
        right.plot(xs, [lv["booking"]["journeys_per_s"] for lv in levels], "o-", label="booking")
        right.plot(xs, [lv["toy"]["journeys_per_s"] for lv in levels], "s-", label="toy ceiling")
        right.set_xlabel("concurrent clients")
        right.set_ylabel("journeys/s (create + 5 moves)")
        right.set_title("Throughput vs clients")
        right.grid(True, alpha=0.3)
        right.legend()
    fig.suptitle(f"Medivoy bench {result.get('started_at', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _strip_raw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_raw(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write(result: dict[str, Any], label: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{label}.json"
    md_path = RESULTS / f"{label}.md"
    png_path = RESULTS / f"{label}.png"
    json_path.write_text(json.dumps(_strip_raw(result), indent=1, default=str) + "\n")
    md_path.write_text(stats.render(result) + f"\n![chart]({png_path.name})\n")
    chart(result, png_path)
    return [md_path, json_path, png_path]


async def _phases(bench: Bench, skip: set[str]) -> None:
    await bench.setup()
    phases = {
        "journeys": bench.journeys,
        "sequential": bench.sequential,
        "idle": bench.idle,
        "lists": bench.lists,
    }
    for name, phase in phases.items():
        if name in skip:
            continue
        try:
            await phase()
        except Exception as exc:  # the other phases still run; the report says what failed
            message = f"phase {name} failed: {type(exc).__name__}: {exc}"[:400]
            bench.result.setdefault("failures", []).append(message)
            bench.progress.console.print(f"[red]{message}[/red]")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = datetime.now(UTC)
    label = args.label or started.strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_at_start": list(os.getloadavg()),
            "python": platform.python_version(),
        },
    }
    notes = [
        f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; "
        "figures are noisy, ratios come from one run.",
        *args.note,
    ]
    own = args.stack is None
    data_dir = args.stack or Path(tempfile.mkdtemp(prefix="medivoy-bench-"))
    extra = {}
    if args.worker_cache is not None:
        extra["MEDIVOY_WORKER_MAX_CACHED_WORKFLOWS"] = str(args.worker_cache)
    stack = Stack.own(data_dir, extra) if own else Stack.running(data_dir)
    args.toy_queue = f"bench-toy-{uuid.uuid4().hex[:8]}"
    toy_worker: subprocess.Popen[bytes] | None = None
    # SIGTERM unwinds like Ctrl-C, so the finally below stops what we started.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    code = 0
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ) as progress:
            if own:
                task = progress.add_task("starting our own `medivoy dev` (first start)", total=1)
                result["start"] = {"first start s": stack.start()}
                progress.advance(task)
            toy_worker = subprocess.Popen(
                [sys.executable, "-m", "bench.toy", stack.temporal_address, args.toy_queue],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bench = Bench(args, stack, progress)
            try:
                asyncio.run(_phases_and_close(bench, skip))
            finally:
                result.update(bench.result)
            if own and "start" not in skip:
                task = progress.add_task("stop, then a warm start of `medivoy dev`", total=1)
                _stop(toy_worker)
                toy_worker = None
                result["start"]["stop s"] = stack.stop()
                result["start"]["warm start s"] = stack.start()
                progress.advance(task)
    except KeyboardInterrupt:
        code = 130
        notes.append("interrupted: partial results")
    finally:
        _stop(toy_worker)
        if own:
            stack.stop()
        signal.signal(signal.SIGTERM, previous)
    notes += result.get("failures", [])
    result["notes"] = notes
    result["ratios"] = ratios(result)
    for path in write(result, label):
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print()
    print(stats.render({"ratios": result["ratios"], "started_at": result["started_at"]}))
    if own:
        print(f"(the stack's data and logs stay in {data_dir})")
    return code


async def _phases_and_close(bench: Bench, skip: set[str]) -> None:
    try:
        await _phases(bench, skip)
    finally:
        await bench.close()


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    with contextlib.suppress(psutil.Error):
        psutil.Process().nice(0)
    sys.exit(main())
