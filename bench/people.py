"""The bench's people and places, written by SQL as an operator's seed would (patients, a
hospital with its admin, a treatment), their minted access tokens, and bulk rows for lists."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security import create_access_token
from domain.access import Role
from domain.models.catalog import Hospital, Treatment
from domain.models.users import Patient, User
from runtime.db import make_sessionmaker
from runtime.settings import Settings

STATUSES = ("requested", "under_review", "accepted", "quotation_sent", "confirmed", "cancelled")


@dataclass
class Person:
    user_id: uuid.UUID
    headers: dict[str, str]
    patient_id: uuid.UUID | None = None


@dataclass
class People:
    patients: list[Person]
    hospital_admin: Person
    admin: Person
    hospital_id: uuid.UUID
    treatment_id: uuid.UUID


def _token(secret: str, user: User) -> dict[str, str]:
    # Long-lived: a run at the sizes outlasts the 15 minutes of a login's token.
    settings = Settings(_env_file=None, jwt_secret=secret, access_token_minutes=24 * 60)
    return {"Authorization": f"Bearer {create_access_token(settings, user.id, user.user_type)}"}


async def seed_people(engine: AsyncEngine, jwt_secret: str, patients: int) -> People:
    from api.services import auth as auth_service

    sessionmaker = make_sessionmaker(engine)
    tag = secrets.token_hex(4)
    password = "Bench-" + secrets.token_urlsafe(12) + "-7!"
    users: dict[str, User] = {}
    async with sessionmaker() as db, db.begin():
        for name, role in [
            *((f"patient{i}", Role.PATIENT) for i in range(patients)),
            ("hospital_admin", Role.HOSPITAL_ADMIN),
            ("admin", Role.ADMIN),
        ]:
            users[name] = await auth_service.create_user(
                db,
                email=f"bench-{tag}-{name}@example.com",
                password=password,
                user_type=role,
                first_name="Bench",
                last_name=name,
                is_verified=True,
                approved=True,
            )
        hospital = Hospital(
            id=uuid.uuid4(), name=f"Bench Hospital {tag}", admin_user_id=users["hospital_admin"].id
        )
        treatment = Treatment(id=uuid.uuid4(), name=f"Bench treatment {tag}")
        db.add_all([hospital, treatment])
        await db.flush()
        patient_ids = {
            row.user_id: row.id
            for row in (
                await db.execute(
                    select(Patient.user_id, Patient.id).where(
                        Patient.user_id.in_([u.id for u in users.values()])
                    )
                )
            ).all()
        }

    def person(name: str) -> Person:
        user = users[name]
        return Person(user.id, _token(jwt_secret, user), patient_ids.get(user.id))

    return People(
        patients=[person(f"patient{i}") for i in range(patients)],
        hospital_admin=person("hospital_admin"),
        admin=person("admin"),
        hospital_id=hospital.id,
        treatment_id=treatment.id,
    )


async def seed_bookings(engine: AsyncEngine, people: People, rows: int) -> int:
    """`rows` bookings straight into the table (no workflows: lists read the table only), spread
    over the patients and the statuses, one a minute back in time; the count now there."""
    patient_ids = [str(p.patient_id) for p in people.patients if p.patient_id is not None]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO bookings (id, booking_number, patient_id, hospital_id, treatment_id,
                    booking_type, status, status_seq, payment_status, requested_date,
                    created_at, updated_at)
                SELECT gen_random_uuid(), 'MV-BK-BENCH-' || :tag || '-' || g,
                    (CAST(:patients AS uuid[]))[1 + g % cardinality(CAST(:patients AS uuid[]))],
                    :hospital, :treatment, 'treatment',
                    (CAST(:statuses AS text[]))[1 + g % cardinality(CAST(:statuses AS text[]))],
                    1, 'unpaid', current_date + 30,
                    now() - g * interval '1 minute', now() - g * interval '1 minute'
                FROM generate_series(1, :rows) AS g
                """
            ),
            {
                "tag": secrets.token_hex(3),
                "patients": patient_ids,
                "hospital": people.hospital_id,
                "treatment": people.treatment_id,
                "statuses": list(STATUSES),
                "rows": rows,
            },
        )
        total = await conn.scalar(text("SELECT count(*) FROM bookings"))
    # VACUUM (not only ANALYZE): autovacuum does it to a table after inserts this big (its
    # insert threshold), setting the visibility map that index-only scans (a page's ids, a
    # count) rely on; measured without it, every deep page also read the heap of each row it
    # skipped (bench/README.md, lists at 100,000).
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) bookings"))
    return int(total or 0)
