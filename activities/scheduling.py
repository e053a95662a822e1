"""What the database knows about a doctor's time: plain async functions over a session, used by the
API (the schedule, the waitlist) and by the appointment activities (create, reschedule).

Whoever takes a slot locks the doctor first (`lock_doctor`, a transaction advisory lock), so the
checks (the day's count, a hold of someone else) and the insert are one step; the exclusion
constraint appointments_no_double_booking still refuses any overlap that gets past the code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range
from sqlalchemy.ext.asyncio import AsyncSession

from domain.availability import MAX_DAYS_AHEAD, Availability, Slot, free_slots
from domain.models.appointments import FREES_TIME, Appointment, DoctorWaitlist, SlotHold
from domain.models.catalog import Doctor
from runtime.settings import get_settings


def _range(lo: datetime, hi: datetime) -> object:
    return literal(Range(lo, hi, bounds="[)"), TSTZRANGE)


def as_range(lo: datetime, hi: datetime) -> Range[datetime]:
    """A '[)' range value for held_range columns."""
    return Range(lo, hi, bounds="[)")


async def lock_doctor(session: AsyncSession, doctor_id: uuid.UUID) -> None:
    """Serializes writers of one doctor's time until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"doctor-time:{doctor_id}"},
    )


async def taken_ranges(
    session: AsyncSession, doctor_id: uuid.UUID, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """The held ranges of the doctor's appointments that hold time and touch [lo, hi)."""
    rows = await session.scalars(
        select(Appointment.held_range)
        .where(
            Appointment.doctor_id == doctor_id,
            Appointment.status.not_in(FREES_TIME),
            Appointment.held_range.op("&&")(_range(lo, hi)),
        )
        .order_by(Appointment.scheduled_date)
    )
    return [(r.lower, r.upper) for r in rows if r.lower is not None and r.upper is not None]


async def hold_ranges(
    session: AsyncSession,
    doctor_id: uuid.UUID,
    lo: datetime,
    hi: datetime,
    *,
    except_patient: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[tuple[datetime, datetime]]:
    """The unexpired slot holds on the doctor touching [lo, hi), but those of except_patient."""
    stmt = select(SlotHold.held_range).where(
        SlotHold.doctor_id == doctor_id,
        SlotHold.expires_at > (now or func.now()),
        SlotHold.held_range.op("&&")(_range(lo, hi)),
    )
    if except_patient is not None:
        stmt = stmt.where(SlotHold.patient_id != except_patient)
    rows = await session.scalars(stmt)
    return [(r.lower, r.upper) for r in rows if r.lower is not None and r.upper is not None]


async def held_by_other(
    session: AsyncSession,
    doctor_id: uuid.UUID,
    lo: datetime,
    hi: datetime,
    patient_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether an unexpired slot hold of another patient keeps any of [lo, hi)."""
    return bool(await hold_ranges(session, doctor_id, lo, hi, except_patient=patient_id, now=now))


async def doctor_availability(session: AsyncSession, doctor_id: uuid.UUID) -> Availability:
    doctor = await session.get(Doctor, doctor_id)
    if doctor is None:
        raise LookupError(f"doctor {doctor_id} does not exist")
    return Availability.of(doctor, get_settings().default_timezone)


async def next_free_slots(
    session: AsyncSession,
    doctor_id: uuid.UUID,
    after: datetime,
    count: int = 3,
    *,
    patient_id: uuid.UUID | None = None,
) -> list[Slot]:
    """The doctor's first `count` free slots starting at or after `after` (and the minimum notice
    from now), up to MAX_DAYS_AHEAD days ahead; holds of others count as taken."""
    av = await doctor_availability(session, doctor_id)
    now = datetime.now(UTC)
    start = max(after.astimezone(UTC), now)
    found: list[Slot] = []
    chunk = timedelta(days=14)
    lo = start
    limit = now + timedelta(days=MAX_DAYS_AHEAD)
    while len(found) < count and lo < limit:
        hi = min(lo + chunk, limit)
        taken = await taken_ranges(
            session, doctor_id, lo - timedelta(days=1), hi + timedelta(days=1)
        )
        taken += await hold_ranges(
            session, doctor_id, lo, hi + timedelta(days=1), except_patient=patient_id
        )
        day_from = av.local_day(lo)
        day_to = av.local_day(hi)
        for slot in free_slots(av, sorted(set(taken)), day_from, day_to, now):
            if lo <= slot.starts_at < hi and slot not in found:
                found.append(slot)
        lo = hi
    return sorted(found)[:count]


async def take_own_holds(
    session: AsyncSession, doctor_id: uuid.UUID, lo: datetime, hi: datetime, patient_id: uuid.UUID
) -> None:
    """The patient books time they hold (a waitlist offer they take): the holds touching
    [lo, hi) go, and their offered waitlist entries are booked. In the booking's transaction,
    so a refused booking keeps the hold."""
    holds = list(
        await session.scalars(
            select(SlotHold).where(
                SlotHold.doctor_id == doctor_id,
                SlotHold.patient_id == patient_id,
                SlotHold.held_range.op("&&")(_range(lo, hi)),
            )
        )
    )
    entries = [h.waitlist_id for h in holds if h.waitlist_id is not None]
    if entries:
        await session.execute(
            update(DoctorWaitlist)
            .where(DoctorWaitlist.id.in_(entries), DoctorWaitlist.status == "offered")
            .values(status="booked")
        )
    if holds:
        await session.execute(delete(SlotHold).where(SlotHold.id.in_([h.id for h in holds])))
