"""Builders of catalog test data shared by the test_catalog_* modules (no tests here)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from activities.scheduling import as_range
from domain.access import Role
from domain.availability import held_range
from domain.models.appointments import Appointment
from domain.models.catalog import (
    Doctor,
    Hospital,
    HospitalDoctor,
    HospitalTreatment,
    Insurance,
    Laboratory,
    Package,
    Treatment,
)
from domain.models.content import Review
from domain.models.users import Patient, User
from tests.builders.users import create_user

__all__ = [
    "add_appointment",
    "add_doctor",
    "add_hospital",
    "add_insurance",
    "add_lab",
    "add_offer",
    "add_package",
    "add_review",
    "add_treatment",
    "affiliate",
    "patient_of",
]


async def add_hospital(sessionmaker: Any, **fields: Any) -> Hospital:
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(
            name=fields.pop("name", "Anadolu Medical Center"),
            country=fields.pop("country", "Turkey"),
            city=fields.pop("city", "Istanbul"),
            is_verified=fields.pop("is_verified", True),
            **fields,
        )
        db.add(hospital)
    return hospital


async def add_doctor(
    sessionmaker: Any,
    *,
    first_name: str = "Ayse",
    last_name: str = "Yilmaz",
    approved: bool = True,
    **profile: Any,
) -> tuple[User, Doctor]:
    """A doctor user and their profile (create_user opens it), with these profile fields."""
    user = await create_user(
        sessionmaker, Role.DOCTOR, first_name=first_name, last_name=last_name, approved=approved
    )
    async with sessionmaker() as db, db.begin():
        doctor = await db.scalar(select(Doctor).where(Doctor.user_id == user.id))
        for key, value in profile.items():
            setattr(doctor, key, value)
    return user, doctor


async def patient_of(sessionmaker: Any, user: User) -> Patient:
    async with sessionmaker() as db:
        patient: Patient = await db.scalar(select(Patient).where(Patient.user_id == user.id))
        return patient


async def _add(sessionmaker: Any, row: Any) -> Any:
    async with sessionmaker() as db, db.begin():
        db.add(row)
    return row


async def add_treatment(sessionmaker: Any, **fields: Any) -> Treatment:
    fields.setdefault("name", "Knee Replacement")
    fields.setdefault("category", "Orthopedics")
    return await _add(sessionmaker, Treatment(id=uuid.uuid4(), **fields))


async def add_offer(sessionmaker: Any, hospital: Any, treatment: Any, **fields: Any) -> Any:
    return await _add(
        sessionmaker,
        HospitalTreatment(
            id=uuid.uuid4(), hospital_id=hospital.id, treatment_id=treatment.id, **fields
        ),
    )


async def affiliate(sessionmaker: Any, hospital: Any, doctor: Doctor, **fields: Any) -> Any:
    return await _add(
        sessionmaker,
        HospitalDoctor(id=uuid.uuid4(), hospital_id=hospital.id, doctor_id=doctor.id, **fields),
    )


async def add_package(sessionmaker: Any, **fields: Any) -> Package:
    fields.setdefault("name", "Smile Makeover")
    return await _add(sessionmaker, Package(id=uuid.uuid4(), **fields))


async def add_lab(sessionmaker: Any, **fields: Any) -> Laboratory:
    fields.setdefault("name", "Central Lab")
    return await _add(sessionmaker, Laboratory(id=uuid.uuid4(), **fields))


async def add_insurance(sessionmaker: Any, **fields: Any) -> Insurance:
    fields.setdefault("provider_name", "Allianz Care")
    return await _add(sessionmaker, Insurance(id=uuid.uuid4(), **fields))


async def add_appointment(
    sessionmaker: Any,
    doctor: Doctor,
    patient: Patient,
    when: datetime,
    status: str = "booked",
    **fields: Any,
) -> Appointment:
    fields.setdefault("ends_at", when + timedelta(minutes=fields.get("duration_minutes", 30)))
    fields.setdefault("held_range", as_range(*held_range(when, fields["ends_at"], 0)))
    return await _add(
        sessionmaker,
        Appointment(
            id=uuid.uuid4(),
            appointment_number="APT-" + uuid.uuid4().hex[:10].upper(),
            doctor_id=doctor.id,
            patient_id=patient.id,
            scheduled_date=when,
            status=status,
            **fields,
        ),
    )


async def add_review(sessionmaker: Any, doctor: Doctor, **fields: Any) -> Review:
    fields.setdefault("rating", 5)
    return await _add(sessionmaker, Review(id=uuid.uuid4(), doctor_id=doctor.id, **fields))
