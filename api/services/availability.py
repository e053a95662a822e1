"""A doctor's availability as the API shows it, who may change it, and the free slots of a
schedule in the asker's time zone. Never commits."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities import scheduling
from domain.access import Role
from domain.availability import DAY_NAMES, MAX_DAYS_AHEAD, Availability, Slot, free_slots
from domain.errors import Forbidden
from domain.models.catalog import Doctor, Hospital, HospitalDoctor
from domain.models.users import Patient, User

DEFAULT_DAYS = 14


def refuse(field: str, message: str) -> RequestValidationError:
    """A 422 VALIDATION_ERROR naming the field, like the schema's own refusals."""
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


async def is_hospital_admin_of(db: AsyncSession, user: User, doctor: Doctor) -> bool:
    if user.user_type != Role.HOSPITAL_ADMIN:
        return False
    found = await db.scalar(
        select(HospitalDoctor.id)
        .join(Hospital, Hospital.id == HospitalDoctor.hospital_id)
        .where(HospitalDoctor.doctor_id == doctor.id, Hospital.admin_user_id == user.id)
        .limit(1)
    )
    return found is not None


async def may_manage(db: AsyncSession, user: User, doctor: Doctor) -> None:
    """The doctor themself, an admin of a hospital they work at, or an admin."""
    if user.user_type == Role.ADMIN or doctor.user_id == user.id:
        return
    if await is_hospital_admin_of(db, user, doctor):
        return
    raise Forbidden(
        "Only this doctor, their hospital's admin or an administrator may do this",
        code="NOT_THIS_DOCTOR",
    )


async def may_read_appointments(db: AsyncSession, user: User, doctor: Doctor) -> None:
    """A doctor's appointment book and patients (issue 10, Reads): the doctor themself, an
    admin of a hospital they work at, staff (admins, coordinators). The rows are still scoped by
    policies.appointment_scope (an unapproved doctor or hospital admin sees none)."""
    if user.user_type in (Role.ADMIN, Role.COORDINATOR) or doctor.user_id == user.id:
        return
    if await is_hospital_admin_of(db, user, doctor):
        return
    raise Forbidden(
        "Only this doctor, their hospital's admin or staff see the doctor's appointments",
        code="NOT_THIS_DOCTOR",
    )


def render(doctor: Doctor, default_timezone: str) -> dict[str, Any]:
    av = Availability.of(doctor, default_timezone)
    return {
        "doctor_id": doctor.id,
        "timezone": av.timezone,
        "weekly_hours": [
            {
                "day": w.day,
                "day_name": DAY_NAMES[w.day],
                "start": w.start.strftime("%H:%M"),
                "end": w.end.strftime("%H:%M"),
            }
            for w in av.weekly_hours
        ],
        "dates_off": sorted(av.dates_off),
        "slot_minutes": av.slot_minutes,
        "buffer_minutes": av.buffer_minutes,
        "minimum_notice_hours": av.minimum_notice_hours,
        "max_per_day": av.max_per_day,
        "change_notice_hours": doctor.change_notice_hours,
        "max_reschedules": doctor.max_reschedules,
        "requires_prepayment": doctor.requires_prepayment,
    }


async def viewer_zone(db: AsyncSession, user: User | None, tz: str | None, doctor_zone: str) -> str:
    """The query's zone, else the user's, else the doctor's."""
    if tz:
        return tz
    if user is not None and user.timezone:
        return user.timezone
    return doctor_zone


async def patient_id_of(db: AsyncSession, user: User | None) -> uuid.UUID | None:
    if user is None or user.user_type != Role.PATIENT:
        return None
    return await db.scalar(select(Patient.id).where(Patient.user_id == user.id))


async def schedule(
    db: AsyncSession,
    doctor: Doctor,
    user: User | None,
    *,
    date_from: date | None,
    date_to: date | None,
    tz: str | None,
    default_timezone: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The free slots from date_from to date_to (dates in the asker's zone, inclusive). A slot
    another patient holds (a waitlist offer) is not free; the asker's own hold is."""
    now = now or datetime.now(UTC)
    av = Availability.of(doctor, default_timezone)
    zone = await viewer_zone(db, user, tz, av.timezone)
    today = now.astimezone(ZoneInfo(zone)).date()
    first = date_from or today
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    if first > latest:
        raise refuse("from", f"at most {MAX_DAYS_AHEAD} days ahead")
    if date_to is not None and date_to < first:
        raise refuse("to", "must be on or after from")
    # The past has no free slot: the asked span starts yesterday at the earliest (a zone ahead).
    first = max(first, today - timedelta(days=1))
    # Without `to`: the default span, cut at the horizon (never past the calendar's end).
    last = date_to or min(first + timedelta(days=DEFAULT_DAYS - 1), latest)
    if last > latest:
        raise refuse("to", f"at most {MAX_DAYS_AHEAD} days ahead")
    slots: list[Slot] = []
    if first <= last:  # (else the span is all past: nothing to look up)
        lo = datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo(zone)) - timedelta(days=1)
        hi = datetime.combine(last, datetime.min.time(), tzinfo=ZoneInfo(zone)) + timedelta(days=2)
        taken = await scheduling.taken_ranges(db, doctor.id, lo, hi)
        taken += await scheduling.hold_ranges(
            db, doctor.id, lo, hi, except_patient=await patient_id_of(db, user)
        )
        slots = free_slots(av, taken, first, last, now, tz=zone)
    view = ZoneInfo(zone)
    return {
        "doctor_id": doctor.id,
        "timezone": zone,
        "date_from": date_from or today,
        "date_to": last,
        "slots": [
            {"starts_at": s.starts_at.astimezone(view), "ends_at": s.ends_at.astimezone(view)}
            for s in slots
        ],
        "availability": render(doctor, default_timezone),
    }
