"""The schema as the database enforces it: the migration matches the models, runs both ways, and
the constraints and triggers hold even for writes that bypass the ORM."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.booking import BookingStatus
from domain.models import (
    Base,
    Booking,
    BookingStatusHistory,
    Hospital,
    HospitalTreatment,
    Patient,
    Payment,
    Review,
    Treatment,
    User,
)
from domain.payment import PaymentGateway
from runtime.db import sync_url
from runtime.migrate import downgrade, upgrade
from runtime.postgres import EmbeddedPostgres

OUR_TABLES = set(Base.metadata.tables)


@pytest.fixture
def empty_database_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A database with nothing in it, not even the migrations."""
    name = "empty_" + uuid.uuid4().hex[:12]
    admin = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _tables_and_functions(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
            functions = set(
                conn.scalars(
                    text(
                        "SELECT proname FROM pg_proc p"
                        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                    )
                )
            )
    finally:
        engine.dispose()
    return tables, functions


def test_migrations_upgrade_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    tables, functions = _tables_and_functions(empty_database_url)
    assert tables == OUR_TABLES
    assert "set_updated_at" in functions

    downgrade(empty_database_url)
    tables, functions = _tables_and_functions(empty_database_url)
    assert tables == set()
    assert "set_updated_at" not in functions

    upgrade(empty_database_url)
    assert _tables_and_functions(empty_database_url)[0] == OUR_TABLES


def _schema_differences(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


async def test_migrated_database_matches_the_models(database_url: str) -> None:
    differences = await asyncio.to_thread(_schema_differences, database_url)
    assert differences == []


def _constraints_in_database(url: str) -> tuple[set[str], set[tuple[str, str, str | None]]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            checks, fks = set(), set()
            for table in OUR_TABLES:
                checks |= {c["name"] for c in inspector.get_check_constraints(table)}
                fks |= {
                    (table, fk["name"], fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                }
    finally:
        engine.dispose()
    return checks, fks


async def test_database_has_the_models_check_constraints_and_on_delete_rules(
    database_url: str,
) -> None:
    """Autogenerate does not compare CHECK constraints or ON DELETE rules; this does."""
    checks, fks = await asyncio.to_thread(_constraints_in_database, database_url)
    model_checks, model_fks = set(), set()
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                model_checks.add(str(constraint.name))
            elif isinstance(constraint, ForeignKeyConstraint):
                model_fks.add((table.name, str(constraint.name), constraint.ondelete))
    assert checks == model_checks
    assert fks == model_fks


async def test_every_table_with_updated_at_has_the_trigger(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    expected = {t.name for t in Base.metadata.sorted_tables if "updated_at" in t.c}
    async with sessionmaker() as db:
        found = set(
            await db.scalars(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    " WHERE t.tgname LIKE 'trg_%_set_updated_at'"
                )
            )
        )
    assert found == expected


async def _patient(db: AsyncSession) -> Patient:
    user = User(
        email=f"patient-{uuid.uuid4().hex[:8]}@example.com",
        password_hash="x",
        user_type=Role.PATIENT.value,
    )
    db.add(user)
    await db.flush()
    patient = Patient(user_id=user.id, country="Kenya")
    db.add(patient)
    await db.flush()
    return patient


async def _booking(db: AsyncSession, **fields: Any) -> Booking:
    patient = await _patient(db)
    booking = Booking(
        booking_number=fields.pop("booking_number", "BK-" + uuid.uuid4().hex[:10]),
        patient_id=patient.id,
        **fields,
    )
    db.add(booking)
    await db.flush()
    return booking


async def test_database_rejects_unknown_booking_status(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        with pytest.raises(IntegrityError, match="ck_bookings_status_allowed"):
            await _booking(db, status="teleported")


async def test_new_booking_starts_requested_and_unpaid(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db, db.begin():
        booking = await _booking(db)
        await db.refresh(booking)
    assert booking.status == BookingStatus.REQUESTED
    assert booking.payment_status == "unpaid"
    assert booking.status_seq == 0


async def test_database_rejects_unknown_user_type(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        db.add(User(email="who@example.com", password_hash="x", user_type="superuser"))
        with pytest.raises(IntegrityError, match="ck_users_user_type_allowed"):
            await db.flush()


async def test_database_rejects_review_rating_of_six(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        hospital = Hospital(name="Rating Hospital")
        db.add(hospital)
        await db.flush()
        db.add(Review(hospital_id=hospital.id, rating=6))
        with pytest.raises(IntegrityError, match="ck_reviews_rating_range"):
            await db.flush()


async def test_database_rejects_duplicate_booking_number(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        await _booking(db, booking_number="BK-2025-0001")
        with pytest.raises(IntegrityError, match="uq_bookings_booking_number"):
            await _booking(db, booking_number="BK-2025-0001")


async def test_database_rejects_a_second_history_row_with_the_same_seq(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        booking = await _booking(db)
        db.add(BookingStatusHistory(booking_id=booking.id, seq=1, to_status="under_review"))
        await db.flush()
        db.add(BookingStatusHistory(booking_id=booking.id, seq=1, to_status="under_review"))
        with pytest.raises(IntegrityError, match="uq_booking_status_history_booking_id_seq"):
            await db.flush()


async def test_patient_with_bookings_cannot_be_deleted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db, db.begin():
        booking = await _booking(db)
        patient = await db.get(Patient, booking.patient_id)
    assert patient is not None
    async with sessionmaker() as db:
        # Deleting the user cascades to the patient, and the booking refuses that.
        with pytest.raises(IntegrityError, match="fk_bookings_patient_id_patients"):
            await db.execute(text("DELETE FROM users WHERE id = :id"), {"id": patient.user_id})
    async with sessionmaker() as db:
        assert await db.get(Patient, patient.id) is not None


async def test_updated_at_moves_on_a_raw_sql_update(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(name="Trigger Hospital", country="India")
        db.add(hospital)
    async with sessionmaker() as db:
        before = await db.scalar(select(Hospital.updated_at).where(Hospital.id == hospital.id))
    async with sessionmaker() as db, db.begin():
        # Bypasses the ORM's onupdate, and even tries to backdate: the trigger wins.
        await db.execute(
            text("UPDATE hospitals SET city = 'Chennai', updated_at = :old WHERE id = :id"),
            {"old": datetime(2000, 1, 1, tzinfo=UTC), "id": hospital.id},
        )
    async with sessionmaker() as db:
        after = await db.scalar(select(Hospital.updated_at).where(Hospital.id == hospital.id))
    assert before is not None and after is not None
    assert after > before


async def test_money_round_trips_exactly_as_decimal(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    price = Decimal("1234567890.12")
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(name="Money Hospital")
        treatment = Treatment(name="Money Treatment")
        db.add_all([hospital, treatment])
        await db.flush()
        offer = HospitalTreatment(
            hospital_id=hospital.id, treatment_id=treatment.id, base_price=price, currency="INR"
        )
        booking = await _booking(db)
        payment = Payment(
            transaction_id="TX-1",
            booking_id=booking.id,
            patient_id=booking.patient_id,
            amount=Decimal("0.10") + Decimal("0.20"),
            currency="USD",
            payment_gateway=PaymentGateway.STRIPE.value,
        )
        db.add_all([offer, payment])
    async with sessionmaker() as db:
        stored_price = await db.scalar(
            select(HospitalTreatment.base_price).where(HospitalTreatment.id == offer.id)
        )
        stored_amount = await db.scalar(select(Payment.amount).where(Payment.id == payment.id))
    assert isinstance(stored_price, Decimal)
    assert stored_price == price
    assert str(stored_price) == "1234567890.12"
    assert stored_amount == Decimal("0.30")


async def test_a_slot_table_with_an_exclusion_constraint_refuses_an_overlapping_booking(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """btree_gist (from the migrations) lets one constraint say: no two overlapping time ranges
    for the same doctor, as the appointments' no-double-booking rule will."""
    doctor = uuid.uuid4()
    async with sessionmaker() as db, db.begin():
        await db.execute(
            text(
                "CREATE TABLE slot_probe (doctor_id uuid NOT NULL, during tstzrange NOT NULL,"
                " EXCLUDE USING gist (doctor_id WITH =, during WITH &&))"
            )
        )
        await db.execute(
            text("INSERT INTO slot_probe VALUES (:d, tstzrange(:a, :b))"),
            {
                "d": doctor,
                "a": datetime(2027, 1, 5, 9, tzinfo=UTC),
                "b": datetime(2027, 1, 5, 10, tzinfo=UTC),
            },
        )
        # Another doctor at the same time, and the same doctor right after: both fine.
        await db.execute(
            text("INSERT INTO slot_probe VALUES (:d, tstzrange(:a, :b))"),
            {
                "d": uuid.uuid4(),
                "a": datetime(2027, 1, 5, 9, tzinfo=UTC),
                "b": datetime(2027, 1, 5, 10, tzinfo=UTC),
            },
        )
        await db.execute(
            text("INSERT INTO slot_probe VALUES (:d, tstzrange(:a, :b))"),
            {
                "d": doctor,
                "a": datetime(2027, 1, 5, 10, tzinfo=UTC),
                "b": datetime(2027, 1, 5, 11, tzinfo=UTC),
            },
        )
    async with sessionmaker() as db:
        with pytest.raises(IntegrityError, match="slot_probe_doctor_id_during_excl"):
            await db.execute(
                text("INSERT INTO slot_probe VALUES (:d, tstzrange(:a, :b))"),
                {
                    "d": doctor,
                    "a": datetime(2027, 1, 5, 9, 30, tzinfo=UTC),
                    "b": datetime(2027, 1, 5, 10, 30, tzinfo=UTC),
                },
            )
    async with sessionmaker() as db:
        assert await db.scalar(text("SELECT count(*) FROM slot_probe")) == 3


async def test_trigram_search_finds_a_misspelt_hospital_name(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """pg_trgm (from the migrations): similarity search, with a trigram index to serve it."""
    async with sessionmaker() as db, db.begin():
        db.add_all([Hospital(name="Apollo Chennai"), Hospital(name="Fortis Mumbai")])
        await db.execute(
            text("CREATE INDEX hospital_name_trgm ON hospitals USING gin (name gin_trgm_ops)")
        )
    async with sessionmaker() as db:
        found = list(
            await db.scalars(
                text(
                    "SELECT name FROM hospitals WHERE name % :q ORDER BY similarity(name, :q) DESC"
                ),
                {"q": "Apolo Chenai"},
            )
        )
    assert found == ["Apollo Chennai"]


def test_the_migrations_create_the_contrib_extensions_and_the_downgrade_drops_them(
    empty_database_url: str,
) -> None:
    def extensions() -> set[str]:
        with psycopg.connect(sync_url(empty_database_url).replace("+psycopg", "")) as conn:
            return {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}

    upgrade(empty_database_url)
    assert {"btree_gist", "pg_trgm"} <= extensions()
    downgrade(empty_database_url)
    assert not {"btree_gist", "pg_trgm"} & extensions()
