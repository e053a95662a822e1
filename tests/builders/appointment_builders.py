"""The people and the doctor of an appointment test over HTTP: a patient and another, a doctor
(at hospital H, bookable every day around the clock in a zone where now is daytime, no minimum
notice, no prepayment, an 80.00 fee) and another doctor (at H2), both hospitals' admins, a
coordinator and an admin; each person as the headers of a minted token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.users import User
from tests.builders.catalog_builders import add_doctor, add_hospital, affiliate, patient_of
from tests.builders.users import create_user, headers_for

ROLES = (
    "patient",
    "other_patient",
    "doctor",
    "other_doctor",
    "hospital_admin",
    "other_hospital_admin",
    "coordinator",
    "admin",
)


def daytime_zone(now: datetime | None = None) -> str:
    """A zone where it is now between 04:00 and 19:00, so that a consultation in the next few
    hours never crosses the doctor's midnight (the tests run at any hour): UTC by day, Tokyo
    (UTC+9, no daylight saving) from 19:00 to 05:00 UTC."""
    hour = (now or datetime.now(UTC)).hour
    return "UTC" if 5 <= hour < 19 else "Asia/Tokyo"


def round_up(when: datetime, minutes: int = 30) -> datetime:
    """The next grid instant at or after `when` (whole `minutes` past the hour)."""
    base = when.replace(second=0, microsecond=0)
    extra = (-base.minute) % minutes
    return base + timedelta(minutes=extra or (minutes if base < when else 0))


def open_week(zone: str, **rules: Any) -> dict[str, Any]:
    """Availability: every day 00:00-23:30 in `zone`, 30-minute slots, no notice, no buffer."""
    return {
        "timezone": zone,
        "weekly_hours": [{"day": d, "start": "00:00", "end": "23:30"} for d in range(7)],
        "slot_minutes": 30,
        "buffer_minutes": 0,
        "minimum_notice_hours": 0,
        "requires_prepayment": False,
        **rules,
    }


@dataclass
class Clinic:
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    patient_id: uuid.UUID
    other_patient_id: uuid.UUID
    doctor_id: uuid.UUID
    other_doctor_id: uuid.UUID
    hospital_id: uuid.UUID
    other_hospital_id: uuid.UUID
    zone: str

    def __getitem__(self, role: str) -> dict[str, str]:
        return self.headers[role]


async def clinic(
    sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, **rules: Any
) -> Clinic:
    users: dict[str, User] = {
        "patient": await create_user(sessionmaker, first_name="Amira", last_name="Haddad"),
        "other_patient": await create_user(sessionmaker, first_name="Other", last_name="Patient"),
        "hospital_admin": await create_user(sessionmaker, Role.HOSPITAL_ADMIN),
        "other_hospital_admin": await create_user(sessionmaker, Role.HOSPITAL_ADMIN),
        "coordinator": await create_user(sessionmaker, Role.COORDINATOR),
        "admin": await create_user(sessionmaker, Role.ADMIN),
    }
    users["doctor"], doctor = await add_doctor(
        sessionmaker, first_name="Ayse", consultation_fee=Decimal("80.00")
    )
    users["other_doctor"], other_doctor = await add_doctor(
        sessionmaker, first_name="Omer", last_name="Other", consultation_fee=Decimal("55.00")
    )
    hospital = await add_hospital(sessionmaker, admin_user_id=users["hospital_admin"].id)
    other_hospital = await add_hospital(
        sessionmaker, name="Other Hospital", admin_user_id=users["other_hospital_admin"].id
    )
    await affiliate(sessionmaker, hospital, doctor)
    await affiliate(sessionmaker, other_hospital, other_doctor)
    headers = {role: headers_for(user) for role, user in users.items()}
    zone = daytime_zone()
    for who, row in (("doctor", doctor), ("other_doctor", other_doctor)):
        saved = await client.patch(
            f"/doctors/{row.id}/availability", headers=headers[who], json=open_week(zone, **rules)
        )
        assert saved.status_code == 200, saved.text
    return Clinic(
        users=users,
        headers=headers,
        patient_id=(await patient_of(sessionmaker, users["patient"])).id,
        other_patient_id=(await patient_of(sessionmaker, users["other_patient"])).id,
        doctor_id=doctor.id,
        other_doctor_id=other_doctor.id,
        hospital_id=hospital.id,
        other_hospital_id=other_hospital.id,
        zone=zone,
    )


def later(days: int = 2, hours: int = 0) -> datetime:
    """A grid instant `days` and `hours` (keep it under 4) ahead: inside the open week's hours
    of the daytime zone."""
    return round_up(datetime.now(UTC) + timedelta(days=days, hours=hours))


def grid(zone: str, n: int, days: int = 6) -> datetime:
    """The n-th distinct slot from `days` ahead: forty a day, 01:00 to 20:30 in `zone` (inside
    the open week's hours), then the next day."""
    local_day = datetime.now(ZoneInfo(zone)).date() + timedelta(days=days + n // 40)
    first = datetime(local_day.year, local_day.month, local_day.day, 1, 0, tzinfo=ZoneInfo(zone))
    return (first + timedelta(minutes=30 * (n % 40))).astimezone(UTC)


async def book(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    doctor_id: uuid.UUID,
    starts_at: datetime,
    **body: Any,
) -> httpx.Response:
    payload = {
        "doctor_id": str(doctor_id),
        "scheduled_date": starts_at.isoformat(),
        "chief_complaint": "Persistent headaches",
        **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in body.items()},
    }
    return await client.post("/appointments", headers=headers, json=payload)


async def booked(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    doctor_id: uuid.UUID,
    starts_at: datetime,
    **body: Any,
) -> dict[str, Any]:
    response = await book(client, headers, doctor_id, starts_at, **body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
