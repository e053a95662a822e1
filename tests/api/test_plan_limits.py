"""Plan limits over HTTP: a hospital's plan in force bounds its doctors, a doctor's (or their
hospital's) plan bounds appointments per month; past a limit 409 PLAN_LIMIT_REACHED with the
limit and the plan, and nothing is written; without a plan in force the settings' defaults
apply (an expired subscription no longer counts). Concurrent requests for the last slot: exactly
one gets it (the count and the insert are one unit per holder, activities/plan_limits.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.appointments import Appointment
from domain.models.catalog import Hospital, HospitalDoctor
from domain.models.subscriptions import Subscription
from runtime.settings import Settings
from tests.builders.catalog_builders import add_doctor
from tests.builders.subscription_builders import add_plan
from tests.builders.users import create_user, headers_for


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # Workflows start at once in the races on a small shared test machine: the API waits for a
    # workflow longer than its production 5 s.
    return make_settings(
        subscription_default_limits={"doctors": 1, "appointments_per_month": 1},
        workflow_deadline_seconds=30,
    )


async def hold(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan_id: uuid.UUID,
    status: str = "active",
    *,
    hospital_id: uuid.UUID | None = None,
    doctor_id: uuid.UUID | None = None,
    timezone: str = "UTC",
) -> uuid.UUID:
    async with sessionmaker() as db, db.begin():
        row = Subscription(
            timezone=timezone,
            id=uuid.uuid4(),
            plan_id=plan_id,
            hospital_id=hospital_id,
            doctor_id=doctor_id,
            billing_cycle="monthly",
            status=status,
            status_seq=2,
            amount=Decimal("100.00"),
            currency="USD",
            start_date=datetime.now(UTC).date(),
            end_date=datetime.now(UTC).date() + timedelta(days=30),
        )
        db.add(row)
    return row.id


async def doctors_at(sessionmaker: async_sessionmaker[AsyncSession], hospital_id: uuid.UUID) -> int:
    async with sessionmaker() as db:
        return int(
            await db.scalar(
                select(func.count())
                .select_from(HospitalDoctor)
                .where(HospitalDoctor.hospital_id == hospital_id)
            )
            or 0
        )


async def test_a_hospitals_plan_bounds_its_doctors_and_the_defaults_apply_without_one(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Apollo", admin_user_id=hospital_admin.id)
        db.add(hospital)
    doctors = [(await add_doctor(sessionmaker, last_name=f"D{i}"))[1] for i in range(4)]
    mine = headers_for(hospital_admin)
    path = f"/hospitals/{hospital.id}/doctors"

    first = await client.post(path, json={"doctor_id": str(doctors[0].id)}, headers=mine)
    assert first.status_code == 201, first.text
    refused = await client.post(path, json={"doctor_id": str(doctors[1].id)}, headers=mine)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "PLAN_LIMIT_REACHED"
    assert error["details"]["limit"] == 1 and error["details"]["plan"] == "default"
    assert await doctors_at(sessionmaker, hospital.id) == 1

    standard = await add_plan(sessionmaker, "Standard", "100.00", None, max_doctors=2)
    subscription = await hold(sessionmaker, standard, hospital_id=hospital.id)
    second = await client.post(path, json={"doctor_id": str(doctors[1].id)}, headers=mine)
    assert second.status_code == 201, second.text
    third = await client.post(path, json={"doctor_id": str(doctors[2].id)}, headers=mine)
    assert third.status_code == 409
    assert third.json()["error"]["details"] == {
        "limit": 2,
        "used": 2,
        "plan": "Standard",
        "what": "doctors",
    }
    assert await doctors_at(sessionmaker, hospital.id) == 2

    # Past the grace the plan is gone: the defaults again (1), already passed.
    async with sessionmaker() as db, db.begin():
        row = await db.get(Subscription, subscription)
        assert row is not None
        row.status = "expired"
    expired = await client.post(path, json={"doctor_id": str(doctors[3].id)}, headers=mine)
    assert expired.status_code == 409
    assert expired.json()["error"]["details"]["plan"] == "default"


async def test_a_doctors_plan_bounds_appointments_per_month(
    client_with_worker: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    client = client_with_worker
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker, Role.PATIENT)
    from domain.models.users import Patient

    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    _, doctor = await add_doctor(sessionmaker)
    plan = await add_plan(
        sessionmaker, "Solo", "20.00", None, target="doctor", max_appointments_per_month=2
    )
    await hold(sessionmaker, plan, doctor_id=doctor.id)
    base = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    # Three slots in one calendar month, away from its edges.
    month_start = base.replace(day=1) + timedelta(days=40)
    month_start = month_start.replace(day=10)

    async def book(day: int) -> httpx.Response:
        return await client.post(
            "/appointments",
            json={
                "doctor_id": str(doctor.id),
                "patient_id": str(patient_id),
                "scheduled_date": month_start.replace(day=day).isoformat(),
                "duration_minutes": 30,
                "override": True,
            },
            headers=headers_for(admin),
        )

    for day in (10, 11):
        made = await book(day)
        assert made.status_code == 201, made.text
    refused = await book(12)
    assert refused.status_code == 409, refused.text
    details = refused.json()["error"]["details"]
    assert refused.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
    assert details["limit"] == 2 and details["plan"] == "Solo"
    async with sessionmaker() as db:
        count = await db.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.doctor_id == doctor.id)
        )
    assert count == 2
    # The next month is a new count.
    next_month = await client.post(
        "/appointments",
        json={
            "doctor_id": str(doctor.id),
            "patient_id": str(patient_id),
            "scheduled_date": (month_start + timedelta(days=31)).isoformat(),
            "duration_minutes": 30,
            "override": True,
        },
        headers=headers_for(admin),
    )
    assert next_month.status_code == 201, next_month.text


def refused_by_the_plan(answers: list[httpx.Response], limit: int, plan: str) -> None:
    """Exactly one answer is a 201; every other one is 409 PLAN_LIMIT_REACHED naming the plan."""
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (len(answers) - 1), [a.text for a in answers]
    for lost in (a for a in answers if a.status_code == 409):
        error = lost.json()["error"]
        assert error["code"] == "PLAN_LIMIT_REACHED", lost.text
        assert error["details"]["limit"] == limit and error["details"]["plan"] == plan


async def test_concurrent_requests_for_a_hospitals_last_doctor_slot_let_exactly_one_in(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Apollo", admin_user_id=hospital_admin.id)
        db.add(hospital)
    plan = await add_plan(sessionmaker, "Standard", "100.00", None, max_doctors=3)
    await hold(sessionmaker, plan, hospital_id=hospital.id)
    doctors = [(await add_doctor(sessionmaker, last_name=f"D{i}"))[1] for i in range(8)]
    async with sessionmaker() as db, db.begin():
        for doctor in doctors[:2]:
            db.add(HospitalDoctor(id=uuid.uuid4(), hospital_id=hospital.id, doctor_id=doctor.id))
    path = f"/hospitals/{hospital.id}/doctors"
    mine = headers_for(hospital_admin)

    answers = await asyncio.gather(
        *(client.post(path, json={"doctor_id": str(d.id)}, headers=mine) for d in doctors[2:])
    )
    refused_by_the_plan(list(answers), 3, "Standard")
    assert await doctors_at(sessionmaker, hospital.id) == 3


async def test_concurrent_bookings_for_the_last_appointment_of_the_month_let_exactly_one_in(
    client_with_worker: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A doctor's own plan (the doctor's appointments count), and a hospital's plan, where two
    of its doctors' bookings race for the hospital's one appointment left."""
    client = client_with_worker
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    patient = await create_user(sessionmaker, Role.PATIENT)
    from domain.models.users import Patient

    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    # A month away, away from its edges: day 10 at noon onwards.
    month = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=10, hour=12, minute=0, second=0, microsecond=0
    )

    async def book(doctor_id: uuid.UUID, day: int) -> httpx.Response:
        return await client.post(
            "/appointments",
            json={
                "doctor_id": str(doctor_id),
                "patient_id": str(patient_id),
                "scheduled_date": month.replace(day=day).isoformat(),
                "duration_minutes": 30,
                "override": True,
            },
            headers=admin,
        )

    async def booked(*doctor_ids: uuid.UUID) -> int:
        async with sessionmaker() as db:
            return int(
                await db.scalar(
                    select(func.count())
                    .select_from(Appointment)
                    .where(Appointment.doctor_id.in_(doctor_ids))
                )
                or 0
            )

    _, solo = await add_doctor(sessionmaker, last_name="Solo")
    plan = await add_plan(
        sessionmaker, "Solo", "20.00", None, target="doctor", max_appointments_per_month=3
    )
    await hold(sessionmaker, plan, doctor_id=solo.id)
    for day in (10, 11):
        made = await book(solo.id, day)
        assert made.status_code == 201, made.text
    answers = await asyncio.gather(*(book(solo.id, day) for day in range(12, 17)))
    refused_by_the_plan(list(answers), 3, "Solo")
    assert await booked(solo.id) == 3

    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    first, second = [await add_doctor(sessionmaker, last_name=n) for n in ("First", "Second")]
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Clinic", admin_user_id=hospital_admin.id)
        db.add(hospital)
        await db.flush()
        for _, doctor in (first, second):
            db.add(HospitalDoctor(id=uuid.uuid4(), hospital_id=hospital.id, doctor_id=doctor.id))
    small = await add_plan(sessionmaker, "Small", "50.00", None, max_appointments_per_month=1)
    await hold(sessionmaker, small, hospital_id=hospital.id)
    answers = await asyncio.gather(
        *(book(doctor.id, day) for _, doctor in (first, second) for day in (20, 21))
    )
    refused_by_the_plan(list(answers), 1, "Small")
    assert await booked(first[1].id, second[1].id) == 1


async def test_a_reschedule_into_a_full_month_is_refused_by_the_plan_and_changes_nothing(
    client_with_worker: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Moving an appointment into another month is one more there: into a full month 409
    PLAN_LIMIT_REACHED (the appointment keeps its time, the refusal uses no reschedule), into
    one with room 200; within a month at the limit it moves (no count changes)."""
    client = client_with_worker
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    patient = await create_user(sessionmaker, Role.PATIENT)
    from domain.models.users import Patient

    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    _, doctor = await add_doctor(sessionmaker)
    plan = await add_plan(
        sessionmaker, "Solo", "20.00", None, target="doctor", max_appointments_per_month=2
    )
    await hold(sessionmaker, plan, doctor_id=doctor.id)
    # Two calendar months ahead (the doctor's plan is in UTC), away from their edges.
    this = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=10, hour=12, minute=0, second=0, microsecond=0
    )
    after = (this + timedelta(days=31)).replace(day=10)

    async def book(when: datetime) -> str:
        made = await client.post(
            "/appointments",
            json={
                "doctor_id": str(doctor.id),
                "patient_id": str(patient_id),
                "scheduled_date": when.isoformat(),
                "duration_minutes": 30,
                "override": True,
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["data"]["id"])

    async def move(appointment_id: str, when: datetime) -> httpx.Response:
        return await client.post(
            f"/appointments/{appointment_id}/reschedule",
            json={"new_scheduled_date": when.isoformat(), "reason": "Work", "override": True},
            headers=admin,
        )

    async def row(appointment_id: str) -> tuple[datetime, int]:
        async with sessionmaker() as db:
            found = await db.get(Appointment, uuid.UUID(appointment_id))
            assert found is not None
            return found.scheduled_date, found.reschedule_count

    first, second = await book(this), await book(this.replace(day=11))
    later = await book(after)

    # Into the full month: refused with the limit and the plan, nothing moved or counted.
    refused = await move(later, this.replace(day=12))
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "PLAN_LIMIT_REACHED"
    assert error["details"]["limit"] == 2 and error["details"]["plan"] == "Solo"
    assert await row(later) == (after, 0)

    # Within the full month: no count changes, it moves.
    within = await move(first, this.replace(day=13))
    assert within.status_code == 200, within.text
    assert await row(first) == (this.replace(day=13), 1)

    # Into a month with room (one of two): it moves, and its old month has room again.
    out = await move(second, after.replace(day=12))
    assert out.status_code == 200, out.text
    assert await row(second) == (after.replace(day=12), 1)
    back = await move(later, this.replace(day=12))
    assert back.status_code == 200, back.text
    # The refused attempt used no reschedule: this is its first.
    assert back.json()["data"]["reschedule_count"] == 1
    assert await row(later) == (this.replace(day=12), 1)


async def test_a_create_and_a_reschedule_racing_for_a_months_last_appointment_one_wins(
    client_with_worker: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    client = client_with_worker
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    patient = await create_user(sessionmaker, Role.PATIENT)
    from domain.models.users import Patient

    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    _, doctor = await add_doctor(sessionmaker)
    plan = await add_plan(
        sessionmaker, "Solo", "20.00", None, target="doctor", max_appointments_per_month=2
    )
    await hold(sessionmaker, plan, doctor_id=doctor.id)
    this = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=10, hour=12, minute=0, second=0, microsecond=0
    )
    after = (this + timedelta(days=31)).replace(day=10)

    def create(when: datetime) -> Any:
        return client.post(
            "/appointments",
            json={
                "doctor_id": str(doctor.id),
                "patient_id": str(patient_id),
                "scheduled_date": when.isoformat(),
                "duration_minutes": 30,
                "override": True,
            },
            headers=admin,
        )

    assert (await create(this)).status_code == 201
    later = await create(after)
    assert later.status_code == 201, later.text
    later_id = later.json()["data"]["id"]
    made, moved = await asyncio.gather(
        create(this.replace(day=11)),
        client.post(
            f"/appointments/{later_id}/reschedule",
            json={
                "new_scheduled_date": this.replace(day=12).isoformat(),
                "reason": "Work",
                "override": True,
            },
            headers=admin,
        ),
    )
    won = [a for a in (made, moved) if a.status_code in (200, 201)]
    lost = [a for a in (made, moved) if a.status_code == 409]
    assert len(won) == 1 and len(lost) == 1, [made.text, moved.text]
    assert lost[0].json()["error"]["code"] == "PLAN_LIMIT_REACHED", lost[0].text
    month_end = (this + timedelta(days=31)).replace(day=1, hour=0)
    async with sessionmaker() as db:
        in_month = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.doctor_id == doctor.id,
                Appointment.scheduled_date >= this.replace(day=1, hour=0),
                Appointment.scheduled_date < month_end,
            )
        )
    assert in_month == 2


async def test_a_reschedules_month_is_the_subscribers_calendar_month(
    client_with_worker: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The month is the one the create check counts in: the subscriber's zone. A move that stays
    in one UTC month but crosses into the next in Asia/Kolkata is counted there (refused when
    that month is full)."""
    client = client_with_worker
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    patient = await create_user(sessionmaker, Role.PATIENT)
    from domain.models.users import Patient

    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    _, doctor = await add_doctor(sessionmaker)
    plan = await add_plan(
        sessionmaker, "Solo", "20.00", None, target="doctor", max_appointments_per_month=2
    )
    await hold(sessionmaker, plan, doctor_id=doctor.id, timezone="Asia/Kolkata")
    this = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=15, hour=12, minute=0, second=0, microsecond=0
    )
    following = (this + timedelta(days=31)).replace(day=1, hour=0)
    # 20:00 UTC on this month's last day is 01:30 on the 1st of the next in Kolkata.
    last_evening = following - timedelta(hours=4)

    async def book(when: datetime) -> str:
        made = await client.post(
            "/appointments",
            json={
                "doctor_id": str(doctor.id),
                "patient_id": str(patient_id),
                "scheduled_date": when.isoformat(),
                "duration_minutes": 30,
                "override": True,
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["data"]["id"])

    mine = await book(this)
    await book(following.replace(day=10, hour=6))
    await book(following.replace(day=11, hour=6))
    refused = await client.post(
        f"/appointments/{mine}/reschedule",
        json={"new_scheduled_date": last_evening.isoformat(), "reason": "Work", "override": True},
        headers=admin,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "PLAN_LIMIT_REACHED"
    async with sessionmaker() as db:
        row = await db.get(Appointment, uuid.UUID(mine))
        assert row is not None
        assert (row.scheduled_date, row.reschedule_count) == (this, 0)
