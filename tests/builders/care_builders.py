"""Builders for care tests: a patient's care team (and people outside it) with their tokens,
appointments, bookings and lab rows written straight to the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.scheduling import as_range
from api.security import create_access_token
from domain.access import Role
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital, Laboratory
from domain.models.users import Patient, User
from runtime.settings import Settings


@dataclass
class Person:
    user: User
    headers: dict[str, str]
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None


async def person(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, role: Role, **fields: Any
) -> Person:
    """An account of a role with its role record and a token. It never logs in, so it skips
    password hashing (a team is eight people; tests/builders/users.create_user makes real ones)."""
    user = User(
        id=uuid.uuid4(),
        email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
        password_hash="unusable",
        user_type=role.value,
        first_name=role.value.title(),
        last_name=fields.pop("last_name", "Tester"),
        is_verified=True,
        is_approved=fields.pop("approved", True),
        is_active=True,
        **fields,
    )
    found = Person(user, {})
    async with sessionmaker() as db, db.begin():
        db.add(user)
        await db.flush()
        if role == Role.PATIENT:
            found.patient_id = uuid.uuid4()
            db.add(Patient(id=found.patient_id, user_id=user.id))
        elif role == Role.DOCTOR:
            found.doctor_id = uuid.uuid4()
            db.add(Doctor(id=found.doctor_id, user_id=user.id))
    token = create_access_token(settings, user.id, user.user_type)
    found.headers = {"Authorization": f"Bearer {token}"}
    return found


START = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)


async def add_appointment(
    sessionmaker: async_sessionmaker[AsyncSession],
    patient_id: uuid.UUID,
    doctor_id: uuid.UUID,
    status: str = "booked",
) -> Appointment:
    async with sessionmaker() as db, db.begin():
        row = Appointment(
            id=uuid.uuid4(),
            appointment_number="MV-AP-" + uuid.uuid4().hex[:10].upper(),
            patient_id=patient_id,
            doctor_id=doctor_id,
            status=status,
            scheduled_date=START,
            ends_at=START + timedelta(minutes=30),
            held_range=as_range(START, START + timedelta(minutes=30)),
        )
        db.add(row)
    return row


async def add_hospital(sessionmaker: async_sessionmaker[AsyncSession], admin: User) -> Hospital:
    async with sessionmaker() as db, db.begin():
        row = Hospital(id=uuid.uuid4(), name="Care Test Hospital", admin_user_id=admin.id)
        db.add(row)
    return row


async def add_lab(
    sessionmaker: async_sessionmaker[AsyncSession], hospital_id: uuid.UUID | None
) -> Laboratory:
    async with sessionmaker() as db, db.begin():
        row = Laboratory(id=uuid.uuid4(), name="Care Test Lab", hospital_id=hospital_id)
        db.add(row)
    return row


async def add_booking(
    sessionmaker: async_sessionmaker[AsyncSession],
    patient_id: uuid.UUID,
    *,
    coordinator_id: uuid.UUID | None = None,
    hospital_id: uuid.UUID | None = None,
    status: str = "under_review",
) -> Booking:
    async with sessionmaker() as db, db.begin():
        row = Booking(
            id=uuid.uuid4(),
            booking_number="MV-BK-" + uuid.uuid4().hex[:10].upper(),
            patient_id=patient_id,
            coordinator_id=coordinator_id,
            hospital_id=hospital_id,
            status=status,
        )
        db.add(row)
    return row


@dataclass
class Team:
    """A patient; their doctor (an appointment), their coordinator (a booking) and hospital
    admin (the booking's hospital); and people outside: another patient, a doctor without an
    appointment, another coordinator, an admin."""

    patient: Person
    other_patient: Person
    doctor: Person
    stranger_doctor: Person
    coordinator: Person
    other_coordinator: Person
    hospital_admin: Person
    admin: Person
    appointment: Appointment
    booking: Booking
    hospital: Hospital

    def __getitem__(self, name: str) -> Person:
        found: Person = getattr(self, name)
        return found


async def team(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, **booking: Any
) -> Team:
    patient = await person(sessionmaker, settings, Role.PATIENT)
    other_patient = await person(sessionmaker, settings, Role.PATIENT)
    doctor = await person(sessionmaker, settings, Role.DOCTOR)
    stranger_doctor = await person(sessionmaker, settings, Role.DOCTOR)
    coordinator = await person(sessionmaker, settings, Role.COORDINATOR)
    other_coordinator = await person(sessionmaker, settings, Role.COORDINATOR)
    hospital_admin = await person(sessionmaker, settings, Role.HOSPITAL_ADMIN)
    admin = await person(sessionmaker, settings, Role.ADMIN)
    assert patient.patient_id and doctor.doctor_id and other_patient.patient_id
    assert stranger_doctor.doctor_id
    hospital = await add_hospital(sessionmaker, hospital_admin.user)
    appointment = await add_appointment(sessionmaker, patient.patient_id, doctor.doctor_id)
    # The stranger treats someone else, not this patient.
    await add_appointment(sessionmaker, other_patient.patient_id, stranger_doctor.doctor_id)
    booking_row = await add_booking(
        sessionmaker,
        patient.patient_id,
        coordinator_id=coordinator.user.id,
        hospital_id=hospital.id,
        **booking,
    )
    return Team(
        patient,
        other_patient,
        doctor,
        stranger_doctor,
        coordinator,
        other_coordinator,
        hospital_admin,
        admin,
        appointment,
        booking_row,
        hospital,
    )
