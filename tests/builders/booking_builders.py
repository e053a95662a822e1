"""The people and places of a booking test: a patient and another, a coordinator, two hospitals
with their admins, an admin and a treatment, each person as the headers of a minted token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.catalog import Hospital, Treatment
from tests.builders.users import create_user, headers_for


@dataclass
class People:
    patient: dict[str, str]
    other_patient: dict[str, str]
    coordinator: dict[str, str]
    hospital_admin: dict[str, str]
    other_hospital_admin: dict[str, str]
    admin: dict[str, str]
    hospital_id: uuid.UUID
    treatment_id: uuid.UUID


async def booking_people(sessionmaker: async_sessionmaker[AsyncSession]) -> People:
    users = {
        name: await create_user(sessionmaker, role, first_name=name.title().replace("_", ""))
        for name, role in {
            "patient": Role.PATIENT,
            "other_patient": Role.PATIENT,
            "coordinator": Role.COORDINATOR,
            "hospital_admin": Role.HOSPITAL_ADMIN,
            "other_hospital_admin": Role.HOSPITAL_ADMIN,
            "admin": Role.ADMIN,
        }.items()
    }
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(
            id=uuid.uuid4(), name="Anatolia Hospital", admin_user_id=users["hospital_admin"].id
        )
        other = Hospital(
            id=uuid.uuid4(), name="Other Hospital", admin_user_id=users["other_hospital_admin"].id
        )
        treatment = Treatment(id=uuid.uuid4(), name="Knee replacement")
        db.add_all([hospital, other, treatment])
    headers = {name: headers_for(user) for name, user in users.items()}
    return People(**headers, hospital_id=hospital.id, treatment_id=treatment.id)
