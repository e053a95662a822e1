"""Analytics and dashboard speed at 100,000 bookings (not a test: it prints figures).

    uv run python -m bench.analytics [--bookings 100000] [--requests 100] [--label NAME]
                                     [--data-dir DIR]

On a throwaway embedded PostgreSQL (or DIR, kept and reused the same day): a year of bookings
over 50 hospitals with their status history, payments in three currencies (some refunded) and
20,000 appointments, made in SQL, then VACUUM ANALYZE (what autovacuum does to a table that old);
the roll-up of the whole year (timed); then every analytics and dashboard endpoint through the
ASGI app in one API process: first (each endpoint's first call in the process, answer cache
empty), cold (answer cache emptied before each call) and warm (answer cache filled), p50 and p99
of --requests calls each. The issue's target: under 300 ms cold and under 50 ms warm at p99.
With --label the report goes to bench/results/analytics-NAME.md and .json (every sample)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.analytics import AnalyticsActivities, RollUpInput
from api.security import create_access_token
from bench.stats import fmt, percentile
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres, free_port
from runtime.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"

HOSPITALS = 50
TREATMENTS = 20
DOCTORS = 200

FILL = """
INSERT INTO users (id, email, password_hash, user_type, is_approved)
SELECT gen_random_uuid(), 'bench-' || g || '@example.com', 'x',
       CASE WHEN g <= {doctors} THEN 'doctor' WHEN g <= {doctors} + {hospitals} THEN
       'hospital_admin' ELSE 'patient' END, true
FROM generate_series(1, {doctors} + {hospitals} + {patients}) g;

INSERT INTO hospitals (id, name, country, is_verified, admin_user_id, created_at)
SELECT gen_random_uuid(), 'Hospital ' || rn,
       (ARRAY['India','Turkey','Thailand','Mexico'])[rn % 4 + 1], true, id,
       now() - (rn || ' days')::interval
FROM (SELECT id, row_number() OVER (ORDER BY email) rn FROM users
      WHERE user_type = 'hospital_admin') a;

INSERT INTO treatments (id, name, category)
SELECT gen_random_uuid(), 'Treatment ' || g, 'General' FROM generate_series(1, {treatments}) g;

INSERT INTO patients (id, user_id, country, created_at)
SELECT gen_random_uuid(), id,
       (ARRAY['Nigeria','Iraq','Kenya','UK','USA'])[(hashtext(email) & 4) + 1],
       now() - ((abs(hashtext(email)) % 365) || ' days')::interval
FROM users WHERE user_type = 'patient';

INSERT INTO doctors (id, user_id)
SELECT gen_random_uuid(), id FROM users WHERE user_type = 'doctor';

INSERT INTO hospital_doctors (id, hospital_id, doctor_id)
SELECT gen_random_uuid(), h.id, d.id
FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM doctors) d
JOIN (SELECT id, row_number() OVER (ORDER BY id) rn FROM hospitals) h
  ON h.rn = d.rn % {hospitals} + 1;

CREATE TEMP TABLE bench_refs AS
SELECT (SELECT array_agg(id ORDER BY id) FROM hospitals) hospitals,
       (SELECT array_agg(id ORDER BY id) FROM treatments) treatments,
       (SELECT array_agg(id ORDER BY id) FROM patients) patients;

INSERT INTO bookings (id, booking_number, patient_id, hospital_id, treatment_id, status,
                      total_amount, currency, payment_status, created_at, confirmed_date)
SELECT gen_random_uuid(), 'BENCH-' || g, r.patients[g % array_length(r.patients, 1) + 1],
       r.hospitals[g % {hospitals} + 1], r.treatments[g % {treatments} + 1],
       (ARRAY['requested','under_review','quotation_sent','payment_pending','payment_completed',
              'travel_arrangement','completed','cancelled'])[g % 8 + 1],
       1000 + g % 5000, (ARRAY['USD','EUR','INR'])[g % 3 + 1],
       CASE WHEN g % 8 >= 4 THEN 'paid' ELSE 'unpaid' END,
       now() - ((g % 365) || ' days')::interval - ((g % 1440) || ' minutes')::interval,
       (now() + ((g % 60) || ' days')::interval)::date
FROM generate_series(1, {bookings}) g, bench_refs r;

INSERT INTO booking_status_history (id, booking_id, seq, to_status, created_at)
SELECT gen_random_uuid(), id, s, CASE s WHEN 1 THEN 'requested' ELSE status END,
       created_at + (s || ' hours')::interval
FROM bookings, generate_series(1, 2) s;

INSERT INTO payments (id, transaction_id, booking_id, patient_id, amount, currency,
                      payment_gateway, status, payment_date, refund_amount, refund_date)
SELECT gen_random_uuid(), 'BT-' || booking_number, id, patient_id, total_amount, currency,
       'stripe', CASE WHEN abs(hashtext(booking_number)) % 10 = 0 THEN 'partially_refunded'
       ELSE 'completed' END,
       created_at + interval '1 day',
       CASE WHEN abs(hashtext(booking_number)) % 10 = 0 THEN total_amount / 2 END,
       CASE WHEN abs(hashtext(booking_number)) % 10 = 0 THEN created_at + interval '5 days' END
FROM bookings WHERE payment_status = 'paid';

INSERT INTO appointments (id, appointment_number, patient_id, doctor_id, status,
                          scheduled_date, ends_at, held_range)
SELECT gen_random_uuid(), 'BA-' || d.rn || '-' || s,
       r.patients[(d.rn * 100 + s) % array_length(r.patients, 1) + 1], d.id,
       (ARRAY['appointment_confirmed','consultation_completed','cancelled'])[s % 3 + 1],
       date_trunc('hour', now()) - (s || ' hours')::interval * 4,
       date_trunc('hour', now()) - (s || ' hours')::interval * 4 + interval '30 minutes',
       tstzrange(date_trunc('hour', now()) - (s || ' hours')::interval * 4,
                 date_trunc('hour', now()) - (s || ' hours')::interval * 4 + interval '30 minutes')
FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM doctors) d,
     generate_series(0, {appointments_per_doctor} - 1) s, bench_refs r;
ANALYZE;
"""


def paths_for(today: date, hospital: uuid.UUID) -> list[tuple[str, str]]:
    """Every analytics and dashboard endpoint, as (role, path)."""
    return [
        *(
            ("admin", f"/analytics/{w}")
            for w in ("overview", "bookings", "revenue", "patients", "doctors", "hospitals")
        ),
        (
            "admin",
            "/analytics/revenue?group_by=month&from=" + (today - timedelta(days=364)).isoformat(),
        ),
        *(
            ("hospital_admin", f"/analytics/{w}")
            for w in ("overview", "bookings", "revenue", "patients", "doctors", "hospitals")
        ),
        ("admin", f"/hospitals/{hospital}/analytics"),
        ("hospital_admin", f"/hospitals/{hospital}/analytics"),
        ("admin", "/dashboard/admin"),
        ("hospital_admin", "/dashboard/hospital"),
        ("doctor", "/dashboard/doctor"),
        ("patient", "/dashboard/patient"),
    ]


async def make_data(engine: AsyncEngine, bookings: int) -> dict[str, int]:
    async with engine.begin() as conn:
        # Only our own integers go into the SQL text.
        sql = FILL.format(
            doctors=DOCTORS,
            hospitals=HOSPITALS,
            treatments=TREATMENTS,
            patients=max(1000, bookings // 5),
            bookings=bookings,
            appointments_per_doctor=100,
        )
        for statement in sql.split(";\n"):
            if statement.strip():
                await conn.execute(text(statement))
        return {
            t: int(await conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
            for t in ("bookings", "payments", "booking_status_history", "appointments")
        }


async def roll_up_year(sessionmaker: Any, settings: Settings, today: date) -> None:
    activities = AnalyticsActivities(sessionmaker, settings)
    first = today - timedelta(days=365)
    while first < today:
        last = min(today - timedelta(days=1), first + timedelta(days=30))
        await activities.roll_up_analytics_days(RollUpInput(first=first, last=last))
        first = last + timedelta(days=1)


async def people_of(engine: AsyncEngine) -> tuple[dict[str, uuid.UUID], uuid.UUID]:
    async with engine.connect() as conn:
        admin = await conn.scalar(
            text(
                "INSERT INTO users (email, password_hash, user_type) "
                "VALUES ('bench-admin@example.com', 'x', 'admin') "
                "ON CONFLICT (email) DO UPDATE SET user_type = 'admin' RETURNING id"
            )
        )
        people = {
            role: (
                await conn.execute(
                    text("SELECT id FROM users WHERE user_type = :r ORDER BY email LIMIT 1"),
                    {"r": role},
                )
            ).scalar_one()
            for role in ("hospital_admin", "doctor", "patient")
        }
        await conn.commit()
        hospital = await conn.scalar(
            text("SELECT id FROM hospitals WHERE admin_user_id = :u"),
            {"u": people["hospital_admin"]},
        )
    people["admin"] = admin
    return people, hospital


async def call(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    """One GET, its time in ms; anything but 200 stops the run."""
    start = time.perf_counter()
    answer = await client.get(path, headers=headers)
    spent = (time.perf_counter() - start) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return spent


async def measure(
    settings: Settings,
    paths: list[tuple[str, str]],
    tokens: dict[str, dict[str, str]],
    requests: int,
) -> dict[tuple[str, str], dict[str, Any]]:
    """In one API process (the app with its lifespan, as uvicorn runs it; answer cache in
    memory, 300 s): first, each endpoint once in a row on the empty cache (the very first
    includes the process's first request: the pool's first connection); then `requests` rounds
    of every endpoint with the answer cache emptied before each call (cold), then `requests`
    rounds on the filled cache (warm). Rounds go over every endpoint in turn, so the machine's
    noise spreads over all of them alike."""
    from api.app import create_app

    found: dict[tuple[str, str], dict[str, Any]] = {p: {"cold": [], "warm": []} for p in paths}
    app = create_app(settings.model_copy(update={"analytics_cache_seconds": 300}))
    async with app.router.lifespan_context(app):
        cache = app.state.answer_cache
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b/api/v1") as c:
            for role, path in paths:
                await cache.close()  # the memory cache's close() empties it
                found[(role, path)]["first"] = await call(c, path, tokens[role])
            for _ in range(requests):
                for role, path in paths:
                    await cache.close()  # the memory cache's close() empties it
                    found[(role, path)]["cold"].append(await call(c, path, tokens[role]))
            for role, path in paths:
                await call(c, path, tokens[role])  # fills the cache
            for _ in range(requests):
                for role, path in paths:
                    found[(role, path)]["warm"].append(await call(c, path, tokens[role]))
    return found


def summarize(found: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for (role, path), timing in found.items():
        rows.append(
            {
                "endpoint": path.split("?")[0] if "hospitals/" in path else path,
                "role": role,
                "first_ms": timing["first"],
                "cold_p50_ms": percentile(timing["cold"], 50),
                "cold_p99_ms": percentile(timing["cold"], 99),
                "cold_max_ms": max(timing["cold"]),
                "warm_p50_ms": percentile(timing["warm"], 50),
                "warm_p99_ms": percentile(timing["warm"], 99),
                "warm_max_ms": max(timing["warm"]),
                "cold_ms": timing["cold"],
                "warm_ms": timing["warm"],
            }
        )
    return rows


COLUMNS = (
    ("first", "first_ms"),
    ("cold p50", "cold_p50_ms"),
    ("cold p99", "cold_p99_ms"),
    ("warm p50", "warm_p50_ms"),
    ("warm p99", "warm_p99_ms"),
)


def _shown(row: dict[str, Any]) -> str:
    path = row["endpoint"]
    if path.startswith("/hospitals/"):
        path = "/hospitals/{id}/analytics"
    return f"{path} ({row['role']})"


def render(result: dict[str, Any]) -> str:
    out = [f"# Analytics and dashboards at {result['counts']['bookings']:,} bookings", ""]
    out += [f"- {note}" for note in result["notes"]]
    out += [
        f"- data: {result['counts']}",
        f"- {result['requests']} cold and {result['requests']} warm calls per endpoint; "
        "first: the first call of each endpoint in a new API process, answer cache empty "
        "(the first row's includes the process's first request); cold: answer cache emptied "
        "before each call; warm: answer cache filled. PostgreSQL's buffers: warm when the data "
        "was just made, empty at the first calls when --data-dir reused it (bench/README.md).",
        "",
        "| endpoint | " + " | ".join(f"{name} ms" for name, _ in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for row in result["endpoints"]:
        cells = " | ".join(fmt(row[key]) for _, key in COLUMNS)
        out.append(f"| {_shown(row)} | {cells} |")
    worst = {key: max(r[key] for r in result["endpoints"]) for _, key in COLUMNS}
    out.append("| **worst** | " + " | ".join(f"**{fmt(worst[k])}**" for _, k in COLUMNS) + " |")
    out += ["", "Targets: cold (first and p99) under 300 ms, warm p99 under 50 ms.", ""]
    return "\n".join(out)


def write(result: dict[str, Any], label: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"analytics-{label}.json"
    md_path = RESULTS / f"analytics-{label}.md"
    json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    md_path.write_text(render(result))
    return [md_path, json_path]


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp())
    marker = data_dir / "bench-analytics.json"
    today = datetime.now(UTC).date()
    made: dict[str, Any] | None = json.loads(marker.read_text()) if marker.exists() else None
    if made is not None and (made["day"] != today.isoformat() or made["bookings"] != args.bookings):
        raise SystemExit(f"{data_dir} holds other data ({made}): give another --data-dir")
    pg = EmbeddedPostgres(data_dir, free_port(), durable=False)
    pg.start()
    load = os.getloadavg()[0]
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url, pool_size=5)
        sessionmaker = make_sessionmaker(engine)
        settings = Settings(
            _env_file=None,
            database_url=pg.url,
            jwt_secret="bench-" + uuid.uuid4().hex,
            log_level="WARNING",
            log_json=False,
        )
        if made is None:
            started = time.perf_counter()
            counts = await make_data(engine, args.bookings)
            print(f"data made in {time.perf_counter() - started:.1f} s: {counts}")
            started = time.perf_counter()
            await roll_up_year(sessionmaker, settings, today)
            print(f"365 days rolled up in {time.perf_counter() - started:.1f} s")
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
            made = {"day": today.isoformat(), "bookings": args.bookings, "counts": counts}
            if args.data_dir:
                marker.write_text(json.dumps(made))
        else:
            print(f"data of {made['day']} reused from {data_dir}: {made['counts']}")
        people, hospital = await people_of(engine)
        await engine.dispose()
        tokens = {
            role: {"Authorization": f"Bearer {create_access_token(settings, uid, role)}"}
            for role, uid in people.items()
        }
        paths = paths_for(today, hospital)
        found = await measure(settings, paths, tokens, args.requests)
    finally:
        pg.stop()
    result = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "notes": [
            f"{os.cpu_count()} cores, load average at start {load:.1f}",
            *([args.note] if args.note else []),
        ],
        "counts": made["counts"],
        "requests": args.requests,
        "endpoints": summarize(found),
    }
    print(render(result))
    if args.label:
        for path in write(result, args.label):
            print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100, help="cold and warm calls each")
    parser.add_argument("--label", default="", help="write bench/results/analytics-LABEL.md/.json")
    parser.add_argument("--note", default="", help="a line for the report")
    parser.add_argument(
        "--data-dir",
        default="",
        help="keep the database here and reuse it when run again the same day (the data and "
        "roll-up take about a minute to make)",
    )
    asyncio.run(main(parser.parse_args()))
