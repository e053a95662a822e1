"""Builders for waitlist tests (and the waitlist history recorder): a doctor with open hours, the
patients waiting, their entries, an appointment booked through its workflow, and the reads a
patient would notice (their entry's status, the holds on a slot)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from activities.appointments import NewAppointment
from domain.access import Role
from domain.models.appointments import DoctorWaitlist, SlotHold
from domain.models.catalog import Doctor
from domain.models.users import Patient, User
from tests.builders.users import create_user
from workflows.appointment import AppointmentInput, open_appointment
from workflows.messages import appointment_workflow_id

EVERY_DAY = [{"day": d, "start": "08:00", "end": "18:00"} for d in range(7)]


@dataclass
class Person:
    user: User
    patient_id: uuid.UUID


@dataclass
class WaitlistCast:
    doctor: User
    doctor_id: uuid.UUID
    admin: User
    patients: list[Person]


async def patient(sessionmaker: async_sessionmaker[AsyncSession], zone: str = "UTC") -> Person:
    user = await create_user(sessionmaker, Role.PATIENT)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == user.id).values(timezone=zone))
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
    assert patient_id is not None
    return Person(user, patient_id)


async def waitlist_cast(
    sessionmaker: async_sessionmaker[AsyncSession], patients: int = 3
) -> WaitlistCast:
    """A doctor open 08:00-18:00 UTC every day (30-minute slots, an hour's notice, no fee) and
    `patients` patients in UTC."""
    doctor = await create_user(sessionmaker, Role.DOCTOR, first_name="Ada", last_name="Waits")
    admin = await create_user(sessionmaker, Role.ADMIN)
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(Doctor)
            .where(Doctor.user_id == doctor.id)
            .values(
                timezone="UTC",
                weekly_hours=EVERY_DAY,
                slot_minutes=30,
                minimum_notice_hours=1,
                consultation_fee=None,
                requires_prepayment=False,
            )
        )
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor.id))
    assert doctor_id is not None
    people = [await patient(sessionmaker) for _ in range(patients)]
    return WaitlistCast(doctor, doctor_id, admin, people)


def slot_in(days: int, hour: int = 10, *, now: datetime | None = None) -> datetime:
    """A slot start `days` days after today (UTC) at `hour`:00."""
    today = (now or datetime.now(UTC)).date()
    return datetime.combine(today + timedelta(days=days), datetime.min.time(), tzinfo=UTC).replace(
        hour=hour
    )


async def join(
    sessionmaker: async_sessionmaker[AsyncSession],
    doctor_id: uuid.UUID,
    who: Person,
    date_from: date,
    date_to: date | None = None,
    *,
    joined_at: datetime | None = None,
) -> uuid.UUID:
    """A waiting entry, as POST /doctors/{id}/waitlist stores it (joined_at orders the queue)."""
    entry = DoctorWaitlist(
        id=uuid.uuid4(),
        doctor_id=doctor_id,
        patient_id=who.patient_id,
        date_from=date_from,
        date_to=date_to or date_from,
        status="waiting",
    )
    if joined_at is not None:
        entry.created_at = joined_at
    async with sessionmaker() as db, db.begin():
        db.add(entry)
    return entry.id


async def book(
    client: Client,
    task_queue: str,
    cast: WaitlistCast,
    who: Person,
    starts_at: datetime,
    *,
    by_staff: bool = False,
) -> WorkflowHandle[Any, Any]:
    """Book through the appointment's workflow, as POST /appointments does (the doctor's rules
    checked unless staff book it)."""
    appointment_id = uuid.uuid4()
    booker = cast.admin if by_staff else who.user
    await open_appointment(
        client,
        task_queue,
        AppointmentInput(
            appointment=NewAppointment(
                appointment_id=appointment_id,
                appointment_number=f"MV-AP-W-{appointment_id.hex[:8]}",
                patient_id=who.patient_id,
                doctor_id=cast.doctor_id,
                starts_at=starts_at,
                duration_minutes=30,
                created_by_user_id=booker.id,
                created_by_role=booker.user_type,
                override=by_staff,
            ),
        ),
    )
    return client.get_workflow_handle(appointment_workflow_id(appointment_id))


async def entry_status(
    sessionmaker: async_sessionmaker[AsyncSession], entry_id: uuid.UUID
) -> str | None:
    async with sessionmaker() as db:
        entry = await db.get(DoctorWaitlist, entry_id)
    return entry.status if entry is not None else None


async def holders(
    sessionmaker: async_sessionmaker[AsyncSession], doctor_id: uuid.UUID
) -> list[uuid.UUID]:
    """The patients holding a slot of the doctor (waitlist offers), oldest first."""
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(SlotHold.patient_id)
            .where(SlotHold.doctor_id == doctor_id)
            .order_by(SlotHold.created_at)
        )
        return list(rows)
