"""Analytics and dashboard speed at 100,000 bookings (not a test: it prints figures).

    uv run python -m bench.analytics [--bookings 100000] [--requests 50]

On a throwaway embedded PostgreSQL: a year of bookings over 50 hospitals with their status
history, payments in three currencies (some refunded) and 20,000 appointments, made in SQL; the
roll-up of the whole year (timed); then every analytics and dashboard endpoint through the ASGI
app, cold (the cache off: the roll-up read plus today's live figures) and warm (the answer cache
in this process), p50 and p99 of --requests calls each. The issue's target: p99 under 300 ms
cold and under 50 ms warm."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from activities.analytics import AnalyticsActivities, RollUpInput
from api.security import create_access_token
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres, free_port
from runtime.settings import Settings

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


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def timed(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int
) -> list[float]:
    spent = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await client.get(path, headers=headers)
        spent.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return spent


async def main(bookings: int, requests: int) -> None:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url, pool_size=5)
        sessionmaker = make_sessionmaker(engine)
        started = time.perf_counter()
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
            counts = {
                t: await conn.scalar(text(f"SELECT count(*) FROM {t}"))
                for t in ("bookings", "payments", "booking_status_history", "appointments")
            }
        print(f"data made in {time.perf_counter() - started:.1f} s: {counts}")

        settings = Settings(
            _env_file=None,
            database_url=pg.url,
            jwt_secret="bench-" + uuid.uuid4().hex,
            log_level="WARNING",
            log_json=False,
        )
        today = datetime.now(UTC).date()
        started = time.perf_counter()
        activities = AnalyticsActivities(sessionmaker, settings)
        first = today - timedelta(days=365)
        while first < today:
            last = min(today - timedelta(days=1), first + timedelta(days=30))
            await activities.roll_up_analytics_days(RollUpInput(first=first, last=last))
            first = last + timedelta(days=1)
        print(f"365 days rolled up in {time.perf_counter() - started:.1f} s")

        async with engine.connect() as conn:
            admin = await conn.scalar(
                text(
                    "INSERT INTO users (email, password_hash, user_type) "
                    "VALUES ('bench-admin@example.com', 'x', 'admin') RETURNING id"
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
        tokens = {
            role: {"Authorization": f"Bearer {create_access_token(settings, uid, role)}"}
            for role, uid in people.items()
        }
        paths = [
            *(
                ("admin", f"/analytics/{w}")
                for w in ("overview", "bookings", "revenue", "patients", "doctors", "hospitals")
            ),
            (
                "admin",
                "/analytics/revenue?group_by=month&from="
                + (today - timedelta(days=364)).isoformat(),
            ),
            ("hospital_admin", "/analytics/bookings"),
            ("admin", f"/hospitals/{hospital}/analytics"),
            ("admin", "/dashboard/admin"),
            ("hospital_admin", "/dashboard/hospital"),
            ("doctor", "/dashboard/doctor"),
            ("patient", "/dashboard/patient"),
        ]
        from api.app import create_app

        print(f"{'endpoint':<62} {'cold p50':>9} {'cold p99':>9} {'warm p50':>9} {'warm p99':>9}")
        for cache_seconds, label in ((0, "cold"), (300, "warm")):
            app = create_app(settings.model_copy(update={"analytics_cache_seconds": cache_seconds}))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b/api/v1") as c:
                    for role, path in paths:
                        spent = await timed(c, path, tokens[role], requests)
                        results.setdefault((role, path), {})[label] = spent
        for role, path in paths:
            timing = results[(role, path)]
            cold, warm = timing["cold"], timing["warm"][1:]  # warm: after the first fill
            figures = (
                statistics.median(cold),
                percentile(cold, 0.99),
                statistics.median(warm),
                percentile(warm, 0.99),
            )
            shown = f"{path} ({role})"
            print(f"{shown[:62]:<62} " + " ".join(f"{f:>7.1f}ms" for f in figures))
        await engine.dispose()
    finally:
        pg.stop()


results: dict[tuple[str, str], dict[str, list[float]]] = {}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.bookings, args.requests))
