"""A doctor's waitlist: joining, leaving and reading it. Offers are made by the doctor's
waitlist workflow (workflows/waitlist.py), never here. Never commits.

Who may do what:
- join: a patient, for themself, on a doctor they can see; dates in their own time zone, from
  today to MAX_DAYS_AHEAD days ahead; one open entry (waiting or offered) per overlapping dates.
- leave: the entry's patient, or staff (coordinator, admin). An open offer's hold goes with it:
  the slot is free for anyone at once, and the workflow is told to offer it to the next patient.
- read: the doctor, an admin of a hospital they work at, and staff see every entry (with the
  patient's name); a patient sees their own; anyone else 403.
- expiry: an entry whose last day is over (in the patient's zone) is expired, by the hourly
  Schedule's sweep (workflows/waitlist.WaitlistExpiryWorkflow) and before each listing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities import scheduling
from activities.waitlist import expire_past_entries
from api.schemas.waitlist import WaitlistEntryOut, WaitlistFilters, WaitlistJoin
from api.services.availability import is_hospital_admin_of
from domain.access import STAFF, Role
from domain.availability import MAX_DAYS_AHEAD
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.appointments import DoctorWaitlist, SlotHold
from domain.models.catalog import Doctor
from domain.models.users import Patient, User
from workflows.messages import OfferWithdrawn, WaitlistSignal, waitlist_workflow_id

OPEN = ("waiting", "offered")
ENTRY_NOT_FOUND = "WAITLIST_ENTRY_NOT_FOUND"


def _refuse(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


async def _own_patient_id(db: AsyncSession, user: User) -> uuid.UUID:
    own = await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
    if own is None:
        raise Invalid("Your account has no patient record", code="NO_PATIENT_RECORD")
    return own


def _zone(user: User | None, default_timezone: str) -> str:
    return (user.timezone if user is not None else None) or default_timezone


def _out(entry: DoctorWaitlist, user: User | None, default_timezone: str, named: bool) -> Any:
    name = None
    if named and user is not None:
        name = " ".join(p for p in (user.first_name, user.last_name) if p) or None
    return WaitlistEntryOut.model_validate(entry).model_copy(
        update={"timezone": _zone(user, default_timezone), "patient_name": name}
    )


async def join(
    db: AsyncSession,
    user: User,
    doctor: Doctor,
    body: WaitlistJoin,
    *,
    default_timezone: str,
    now: datetime | None = None,
) -> Any:
    if user.user_type != Role.PATIENT:
        raise Forbidden("Patients join a doctor's waitlist", code="ROLE_NOT_ALLOWED")
    patient_id = await _own_patient_id(db, user)
    first, last = body.days()
    zone = _zone(user, default_timezone)
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()
    field = "date" if body.date is not None else "date_from"
    if first < today:
        raise _refuse(field, f"must be today ({today.isoformat()}, {zone}) or later")
    furthest = today + timedelta(days=MAX_DAYS_AHEAD)
    if last > furthest:
        raise _refuse(
            "date" if body.date is not None else "date_to",
            f"at most {MAX_DAYS_AHEAD} days ahead ({furthest.isoformat()}, {zone})",
        )
    await scheduling.lock_doctor(db, doctor.id)
    clash = await db.scalar(
        select(DoctorWaitlist.id).where(
            DoctorWaitlist.doctor_id == doctor.id,
            DoctorWaitlist.patient_id == patient_id,
            DoctorWaitlist.status.in_(OPEN),
            DoctorWaitlist.date_from <= last,
            DoctorWaitlist.date_to >= first,
        )
    )
    if clash is not None:
        raise Conflict(
            "You already wait for this doctor on some of these dates",
            code="ALREADY_ON_WAITLIST",
            details={"entry_id": str(clash)},
        )
    entry = DoctorWaitlist(
        id=uuid.uuid4(),
        doctor_id=doctor.id,
        patient_id=patient_id,
        date_from=first,
        date_to=last,
        status="waiting",
    )
    db.add(entry)
    await db.flush()
    await db.refresh(entry)
    return _out(entry, user, default_timezone, named=False)


async def _entry(
    db: AsyncSession, doctor: Doctor, entry_id: uuid.UUID
) -> tuple[DoctorWaitlist, User | None]:
    row = (
        await db.execute(
            select(DoctorWaitlist, User)
            .join(Patient, Patient.id == DoctorWaitlist.patient_id)
            .outerjoin(User, User.id == Patient.user_id)
            .where(DoctorWaitlist.id == entry_id, DoctorWaitlist.doctor_id == doctor.id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such waitlist entry", code=ENTRY_NOT_FOUND)
    return row[0], row[1]


async def leave(
    db: AsyncSession,
    temporal: Client,
    user: User,
    doctor: Doctor,
    entry_id: uuid.UUID,
    *,
    default_timezone: str,
) -> Any:
    if user.user_type != Role.PATIENT and user.user_type not in STAFF:
        raise Forbidden(
            "Only the patient who waits, or staff, may remove an entry", code="ROLE_NOT_ALLOWED"
        )
    await scheduling.lock_doctor(db, doctor.id)
    entry, owner = await _entry(db, doctor, entry_id)
    if user.user_type == Role.PATIENT and (owner is None or owner.id != user.id):
        raise NotFound("No such waitlist entry", code=ENTRY_NOT_FOUND)
    if entry.status not in OPEN:
        raise Conflict(
            f"This entry is {entry.status}: nothing to leave",
            code="WAITLIST_ENTRY_CLOSED",
            details={"status": entry.status},
        )
    offered = entry.status == "offered"
    await db.execute(delete(SlotHold).where(SlotHold.waitlist_id == entry.id))
    entry.status = "left"
    await db.flush()
    await db.refresh(entry)
    if offered:
        # Stored first, so the workflow reads the entry as left when it ends the offer.
        await db.commit()
        await _withdraw(temporal, doctor.id, entry.id)
    staff = user.user_type in STAFF
    return _out(entry, owner, default_timezone, named=staff)


async def _withdraw(temporal: Client, doctor_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    """Tell the doctor's waitlist workflow to offer the slot on now; a workflow that has ended
    meanwhile has nothing left to do."""
    handle = temporal.get_workflow_handle(waitlist_workflow_id(doctor_id))
    try:
        await handle.signal(WaitlistSignal.OFFER_WITHDRAWN, OfferWithdrawn(entry_id=entry_id))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def listing(
    db: AsyncSession,
    user: User,
    doctor: Doctor,
    filters: WaitlistFilters,
    *,
    offset: int,
    limit: int,
    default_timezone: str,
) -> tuple[list[Any], int]:
    managers = user.user_type in STAFF or doctor.user_id == user.id
    if not managers:
        managers = await is_hospital_admin_of(db, user, doctor)
    conditions = [DoctorWaitlist.doctor_id == doctor.id]
    if not managers:
        if user.user_type != Role.PATIENT:
            raise Forbidden(
                "Only this doctor, their hospital's admin and staff see the waitlist",
                code="NOT_THIS_DOCTOR",
            )
        conditions.append(DoctorWaitlist.patient_id == await _own_patient_id(db, user))
    # Entries whose dates are past are expired first (the hourly sweep's keyed write, for this
    # doctor now), so that none is listed waiting or offered.
    await expire_past_entries(
        db, now=datetime.now(UTC), default_timezone=default_timezone, doctor_id=doctor.id
    )
    if filters.status is not None:
        conditions.append(DoctorWaitlist.status == filters.status.value)
    where = and_(*conditions)
    total = await db.scalar(select(func.count()).select_from(DoctorWaitlist).where(where))
    rows = await db.execute(
        select(DoctorWaitlist, User)
        .join(Patient, Patient.id == DoctorWaitlist.patient_id)
        .outerjoin(User, User.id == Patient.user_id)
        .where(where)
        .order_by(DoctorWaitlist.created_at, DoctorWaitlist.id)
        .offset(offset)
        .limit(limit)
    )
    items = [_out(e, u, default_timezone, named=managers) for e, u in rows.all()]
    return items, int(total or 0)
