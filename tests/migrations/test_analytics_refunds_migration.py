"""Migration 0019 gives every refund of a payment its own row (payment_refunds), so the analytics
roll-up subtracts each on its own day. Payments refunded before it are backfilled from what they
hold: their workflow's refund log (each refund's amount and instant) when it adds up to the
payment's refund_amount, else one refund of the whole amount on refund_date."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres

D1 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
D2 = datetime(2026, 11, 12, 17, 30, tzinfo=UTC)
D3 = datetime(2026, 11, 14, 8, 15, tzinfo=UTC)


@pytest.fixture
def empty_database(pg_server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    """(asyncpg URL for the migrations, libpq URL for raw SQL) of a database with nothing in it."""
    name = "refunds_" + uuid.uuid4().hex[:12]
    admin = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield (
        f"postgresql+asyncpg://postgres@127.0.0.1:{pg_server.port}/{name}",
        f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}",
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_existing_refunds_are_backfilled_one_row_per_refund_as_far_as_the_payment_tells(
    empty_database: tuple[str, str],
) -> None:
    url, raw = empty_database
    upgrade(url, "0016")
    patient, booking = uuid.uuid4(), uuid.uuid4()
    payments = {name: uuid.uuid4() for name in ("logged", "plain", "unbalanced", "untouched")}
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("INSERT INTO patients (id) VALUES (%s)", (patient,))
        conn.execute(
            "INSERT INTO bookings (id, booking_number, patient_id) VALUES (%s, 'BK-1', %s)",
            (booking, patient),
        )

        def payment(
            name: str,
            status: str,
            refunded: str | None,
            at: datetime | None,
            log: list[dict[str, str]] | None,
            moves: list[str],
        ) -> None:
            conn.execute(
                "INSERT INTO payments (id, transaction_id, booking_id, patient_id, amount,"
                " currency, payment_gateway, status, status_seq, refund_amount, refund_date,"
                " metadata) VALUES (%s, %s, %s, %s, 1000, 'USD', 'stripe', %s, %s, %s, %s, %s)",
                (
                    payments[name],
                    "TX-" + name,
                    booking,
                    patient,
                    status,
                    len(moves),
                    refunded,
                    at,
                    None if log is None else json.dumps({"refund_log": log, "refunds": len(log)}),
                ),
            )
            previous = None
            for seq, to in enumerate(moves, start=1):
                conn.execute(
                    "INSERT INTO payment_status_history (payment_id, seq, from_status, to_status)"
                    " VALUES (%s, %s, %s, %s)",
                    (payments[name], seq, previous, to),
                )
                previous = to

        # Two partial refunds, each in the log its workflow keeps, history rows 3 and 4
        payment(
            "logged",
            "partially_refunded",
            "250.00",
            D2,
            [
                {"number": "1", "amount": "100.00", "at": D1.isoformat()},
                {"number": "2", "amount": "150.00", "at": D2.isoformat()},
            ],
            ["pending", "completed", "partially_refunded", "partially_refunded"],
        )
        # Nothing but the total and the last refund's instant
        payment("plain", "refunded", "1000.00", D3, None, ["pending", "completed", "refunded"])
        # A log that does not account for the total is not trusted
        payment(
            "unbalanced",
            "partially_refunded",
            "300.00",
            D3,
            [{"number": "1", "amount": "100.00", "at": D1.isoformat()}],
            ["pending", "completed", "partially_refunded"],
        )
        payment("untouched", "completed", None, None, None, ["pending", "completed"])

    upgrade(url, "head")

    with psycopg.connect(raw) as conn:
        rows = conn.execute(
            "SELECT payment_id, seq, amount, currency, refunded_at FROM payment_refunds"
            " ORDER BY refunded_at, amount"
        ).fetchall()
        stale = conn.execute(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'analytics_days' AND column_name = 'stale'"
        ).fetchone()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (payments["logged"], 3, Decimal("100.00"), "USD", D1),
        (payments["logged"], 4, Decimal("150.00"), "USD", D2),
        (payments["unbalanced"], 3, Decimal("300.00"), "USD", D3),
        (payments["plain"], 3, Decimal("1000.00"), "USD", D3),
    ]
    assert stale == ("false",)
