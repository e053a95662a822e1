"""Issue 16: GET /doctors/{id}/schedule answered 500 for every seeded doctor because the stored
availability ({"day": "mon", "start": "09:00", "end": "13:00"}) did not match the model. The
migration to one shape (0007) moves the rows that exist into weekly_hours, which the schedule
reads; entries that cannot be read are dropped rather than kept to fail later."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres


@pytest.fixture
def empty_database(pg_server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    """(asyncpg URL for the migrations, libpq URL for raw SQL) of a database with nothing in it."""
    name = "avail_" + uuid.uuid4().hex[:12]
    admin = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield (
        f"postgresql+asyncpg://postgres@127.0.0.1:{pg_server.port}/{name}",
        f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}",
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_stored_availability_of_existing_doctors_is_migrated_to_the_one_shape(
    empty_database: tuple[str, str],
) -> None:
    url, raw = empty_database
    upgrade(url, "0006")
    seeded = [
        {"day": "mon", "start": "09:00", "end": "13:00", "timezone": "Europe/Istanbul"},
        {"day": "Wednesday", "start": "14:00", "end": "18:00"},
        {"day": 4, "start": "09:00", "end": "12:00"},
        {"day": "mon", "start": "09:00", "end": "13:00"},  # a repeat
        {"day": "mon", "start": "10:00", "end": "11:00"},  # overlaps the first
        {"day": "someday", "start": "09:00", "end": "10:00"},
        {"day": "tue", "start": "17:00", "end": "09:00"},  # ends before it starts
        "not an entry",
    ]
    doctors = {}
    with psycopg.connect(raw, autocommit=True) as conn:
        for stored in (seeded, None, {"not": "a list"}):
            user_id, doctor_id = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                "INSERT INTO users (id, email, password_hash, user_type)"
                " VALUES (%s, %s, 'x', 'doctor')",
                (user_id, f"dr-{user_id.hex[:8]}@example.com"),
            )
            conn.execute(
                "INSERT INTO doctors (id, user_id, availability_slots) VALUES (%s, %s, %s)",
                (doctor_id, user_id, None if stored is None else json.dumps(stored)),
            )
            doctors[doctor_id] = stored
    upgrade(url, "head")
    with psycopg.connect(raw) as conn:
        rows = dict(
            (row[0], (row[1], row[2]))
            for row in conn.execute("SELECT id, weekly_hours, timezone FROM doctors").fetchall()
        )
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'doctors'"
            )
        }
    first, no_hours, unreadable = doctors
    assert rows[first] == (
        [
            {"day": 0, "start": "09:00", "end": "13:00"},
            {"day": 2, "start": "14:00", "end": "18:00"},
            {"day": 4, "start": "09:00", "end": "12:00"},
        ],
        "Europe/Istanbul",
    )
    assert rows[no_hours] == ([], None)
    assert rows[unreadable] == ([], None)
    assert "availability_slots" not in columns
