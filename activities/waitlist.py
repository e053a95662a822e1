"""The waitlist's writes: offering a freed slot to the first patient waiting for it (a slot hold
and the entry marked offered), ending an offer, and starting the doctor's waitlist workflow when a
slot frees. Each is keyed, so a retry changes nothing.

Who waits for what: an entry covers the dates date_from..date_to in the patient's own time zone
(their account's, else the platform's default), and entries are offered in the order they joined
(created_at). An offer holds [start, end + the doctor's buffer) like an appointment would, so
nobody else books it (activities.scheduling.held_by_other) until it is taken (the patient books
it: activities.scheduling.take_own_holds marks the entry booked) or ends (expired)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import scheduling
from domain import errors
from domain.appointment import local_wall_time
from domain.availability import Availability, check_request, held_range
from domain.models.appointments import DoctorWaitlist, SlotHold
from domain.models.catalog import Doctor
from domain.models.notifications import Channel
from domain.models.users import Patient, User

# Hold ids are derived from the offer's key (uuid5 in this namespace): a retried offer finds its
# own hold.
HOLD_NAMESPACE = uuid.UUID("5b0f7a52-3c61-4e0e-9d1a-7c2b7f4e9a10")
ACTIVE = ("waiting", "offered")


class WaitlistSlot(BaseModel):
    """A freed slot for the doctor's waitlist (the shape of workflows.messages.SlotFreed)."""

    doctor_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class SlotOfferRequest(BaseModel):
    doctor_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
    # Names this offer once for good (the workflow's first run id and a counter).
    offer_key: str = Field(min_length=1, max_length=200)
    # Entries already offered this slot: never offered it again.
    skip: list[uuid.UUID] = Field(default_factory=list)


class WaitlistOffer(BaseModel):
    """An offer made: ids and times, and what its notification needs (no medical data)."""

    hold_id: uuid.UUID
    entry_id: uuid.UUID
    patient_id: uuid.UUID
    patient_user_id: uuid.UUID | None = None
    locale: str | None = None
    channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL, Channel.IN_APP])
    timezone: str = "UTC"
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
    starts_local: str
    expires_local: str
    doctor_name: str = ""


class OfferEnd(BaseModel):
    hold_id: uuid.UUID
    entry_id: uuid.UUID


def hold_id_for(doctor_id: uuid.UUID, offer_key: str) -> uuid.UUID:
    return uuid.uuid5(HOLD_NAMESPACE, f"{doctor_id}:{offer_key}")


class ExpirySweep(BaseModel):
    """Expire the entries whose dates are past (the doctor's only, when given)."""

    doctor_id: uuid.UUID | None = None


def _local_today(zone: str | None, default_timezone: str, now: datetime) -> date:
    try:
        tz = ZoneInfo(zone or default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(default_timezone)
    return now.astimezone(tz).date()


async def expire_past_entries(
    session: AsyncSession,
    *,
    now: datetime,
    default_timezone: str,
    doctor_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Entries whose last day is over in the patient's own zone become expired: a waiting one,
    or an offered one whose hold has run out (a live offer is its workflow's to end). Keyed by
    status: a repeat changes nothing. Answers the entries expired; the caller commits."""
    conditions = [
        # The latest any zone's today can be is the UTC date plus one: nothing later is past.
        DoctorWaitlist.date_to <= now.astimezone(UTC).date(),
        or_(
            DoctorWaitlist.status == "waiting",
            (DoctorWaitlist.status == "offered") & (DoctorWaitlist.offer_expires_at <= now),
        ),
    ]
    if doctor_id is not None:
        conditions.append(DoctorWaitlist.doctor_id == doctor_id)
    rows = await session.execute(
        select(DoctorWaitlist.id, DoctorWaitlist.date_to, User.timezone)
        .join(Patient, Patient.id == DoctorWaitlist.patient_id)
        .outerjoin(User, User.id == Patient.user_id)
        .where(*conditions)
    )
    past = [
        entry_id
        for entry_id, date_to, zone in rows.all()
        if date_to < _local_today(zone, default_timezone, now)
    ]
    if not past:
        return []
    await session.execute(delete(SlotHold).where(SlotHold.waitlist_id.in_(past)))
    expired = await session.scalars(
        update(DoctorWaitlist)
        .where(DoctorWaitlist.id.in_(past), DoctorWaitlist.status.in_(ACTIVE))
        .values(status="expired")
        .returning(DoctorWaitlist.id)
    )
    return list(expired)


class WaitlistActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        default_timezone: str = "UTC",
        offer_minutes: int = 30,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._default_timezone = default_timezone
        self._offer_minutes = offer_minutes

    @activity.defn
    async def start_doctor_waitlist(self, freed: WaitlistSlot) -> None:
        """Signal-with-start: the doctor's waitlist workflow hears of the freed slot (started
        if it is not running). A repeat is a duplicate signal, which the workflow ignores."""
        # Imported here: workflows.messages imports activities, never the other way at load.
        from workflows.messages import (
            WAITLIST_WORKFLOW,
            SlotFreed,
            WaitlistSignal,
            WaitlistStart,
            waitlist_workflow_id,
        )

        await activity.client().start_workflow(
            WAITLIST_WORKFLOW,
            WaitlistStart(doctor_id=freed.doctor_id, offer_minutes=self._offer_minutes),
            id=waitlist_workflow_id(freed.doctor_id),
            task_queue=activity.info().task_queue,
            start_signal=WaitlistSignal.SLOT_FREED,
            start_signal_args=[SlotFreed(**freed.model_dump())],
            static_summary=f"Waitlist of doctor {freed.doctor_id}",
        )

    @activity.defn
    async def offer_waitlist_slot(self, request: SlotOfferRequest) -> WaitlistOffer | None:
        """Offer the slot to the first waiting patient whose dates cover it, under the doctor's
        lock: None when the slot is no longer bookable (taken, held, too soon, past) or nobody
        waits for it."""
        hold_id = hold_id_for(request.doctor_id, request.offer_key)
        async with self._sessionmaker() as session, session.begin():
            made = await session.get(SlotHold, hold_id)
            if made is not None:
                assert made.waitlist_id is not None
                return await self._offer(session, made.waitlist_id, hold_id, request)
            doctor = await session.get(Doctor, request.doctor_id)
            if doctor is None:
                return None
            await scheduling.lock_doctor(session, doctor.id)
            lo, hi = held_range(request.starts_at, request.ends_at, doctor.buffer_minutes)
            if not await self._bookable(session, doctor, request.starts_at, lo, hi):
                return None
            entry_id = await self._first_waiting(session, request)
            if entry_id is None:
                return None
            entry = await session.get(DoctorWaitlist, entry_id, with_for_update=True)
            assert entry is not None
            await session.execute(
                insert(SlotHold)
                .values(
                    id=hold_id,
                    doctor_id=doctor.id,
                    patient_id=entry.patient_id,
                    held_range=scheduling.as_range(lo, hi),
                    expires_at=request.expires_at,
                    waitlist_id=entry.id,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            entry.status = "offered"
            entry.offered_start = request.starts_at
            entry.offered_end = request.ends_at
            entry.offer_expires_at = request.expires_at
            await session.flush()
            return await self._offer(session, entry.id, hold_id, request)

    async def _bookable(
        self, session: AsyncSession, doctor: Doctor, starts_at: datetime, lo: datetime, hi: datetime
    ) -> bool:
        """Free of appointments and holds, and bookable by the doctor's rules right now."""
        now = datetime.now(UTC)
        if await scheduling.taken_ranges(session, doctor.id, lo, hi):
            return False
        if await scheduling.hold_ranges(session, doctor.id, lo, hi, now=now):
            return False
        av = Availability.of(doctor, self._default_timezone)
        day_lo = datetime.combine(av.local_day(starts_at), time.min, tzinfo=av.zone)
        day_hi = day_lo + timedelta(days=1)
        taken = [
            r
            for r in await scheduling.taken_ranges(session, doctor.id, day_lo, day_hi)
            if day_lo <= r[0] + timedelta(minutes=doctor.buffer_minutes) < day_hi
        ]
        try:
            check_request(av, starts_at, now, len(taken))
        except errors.Invalid:
            return False
        return True

    async def _first_waiting(
        self, session: AsyncSession, request: SlotOfferRequest
    ) -> uuid.UUID | None:
        day = request.starts_at.astimezone(UTC).date()
        rows = await session.execute(
            select(DoctorWaitlist.id, DoctorWaitlist.date_from, DoctorWaitlist.date_to, User)
            .join(Patient, Patient.id == DoctorWaitlist.patient_id)
            .join(User, User.id == Patient.user_id)
            .where(
                DoctorWaitlist.doctor_id == request.doctor_id,
                DoctorWaitlist.status == "waiting",
                DoctorWaitlist.id.not_in(request.skip),
                # A day either side in UTC: the zones; the exact test is below.
                DoctorWaitlist.date_from <= day + timedelta(days=1),
                DoctorWaitlist.date_to >= day - timedelta(days=1),
                User.is_active.is_(True),
            )
            .order_by(DoctorWaitlist.created_at, DoctorWaitlist.id)
        )
        for entry_id, date_from, date_to, user in rows.all():
            local = request.starts_at.astimezone(ZoneInfo(self._zone_of(user))).date()
            if date_from <= local <= date_to:
                return entry_id
        return None

    def _zone_of(self, user: User | None) -> str:
        return (user.timezone if user is not None else None) or self._default_timezone

    async def _offer(
        self,
        session: AsyncSession,
        entry_id: uuid.UUID,
        hold_id: uuid.UUID,
        request: SlotOfferRequest,
    ) -> WaitlistOffer:
        row = (
            await session.execute(
                select(DoctorWaitlist, User)
                .join(Patient, Patient.id == DoctorWaitlist.patient_id)
                .outerjoin(User, User.id == Patient.user_id)
                .where(DoctorWaitlist.id == entry_id)
            )
        ).one()
        entry, user = row
        doctor_user = await session.scalar(
            select(User).join(Doctor, Doctor.user_id == User.id).where(Doctor.id == entry.doctor_id)
        )
        zone = self._zone_of(user)
        channels = [Channel.EMAIL, Channel.IN_APP]
        if user is not None and user.phone:
            channels.insert(1, Channel.SMS)
        name = ""
        if doctor_user is not None:
            name = " ".join(p for p in (doctor_user.first_name, doctor_user.last_name) if p)
        return WaitlistOffer(
            hold_id=hold_id,
            entry_id=entry.id,
            patient_id=entry.patient_id,
            patient_user_id=user.id if user is not None else None,
            locale=user.locale if user is not None else None,
            channels=channels,
            timezone=zone,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            expires_at=request.expires_at,
            starts_local=local_wall_time(request.starts_at, zone),
            expires_local=local_wall_time(request.expires_at, zone),
            doctor_name=name,
        )

    @activity.defn
    async def end_waitlist_offer(self, end: OfferEnd) -> str:
        """The offer's time is up: its hold goes; the entry, if still offered, expires. Answers
        the entry's status: booked (the offer was taken), expired, or left."""
        async with self._sessionmaker() as session, session.begin():
            # The doctor's lock first, then the entry's row: the order bookings take them in.
            doctor_id = await session.scalar(
                select(DoctorWaitlist.doctor_id).where(DoctorWaitlist.id == end.entry_id)
            )
            entry = None
            if doctor_id is not None:
                await scheduling.lock_doctor(session, doctor_id)
                entry = await session.get(DoctorWaitlist, end.entry_id, with_for_update=True)
            await session.execute(delete(SlotHold).where(SlotHold.id == end.hold_id))
            if entry is None:
                return "left"
            if entry.status == "offered":
                entry.status = "expired"
            return entry.status

    @activity.defn
    async def expire_past_waitlist_entries(self, sweep: ExpirySweep) -> int:
        """The hourly sweep's write: entries whose dates are past become expired."""
        async with self._sessionmaker() as session, session.begin():
            expired = await expire_past_entries(
                session,
                now=datetime.now(UTC),
                default_timezone=self._default_timezone,
                doctor_id=sweep.doctor_id,
            )
        return len(expired)


def waitlist_activity_list(activities: WaitlistActivities) -> list[Callable[..., Awaitable[Any]]]:
    return [
        activities.start_doctor_waitlist,
        activities.offer_waitlist_slot,
        activities.end_waitlist_offer,
        activities.expire_past_waitlist_entries,
    ]


__all__ = [
    "ACTIVE",
    "ExpirySweep",
    "OfferEnd",
    "SlotOfferRequest",
    "WaitlistActivities",
    "WaitlistOffer",
    "WaitlistSlot",
    "expire_past_entries",
    "hold_id_for",
    "waitlist_activity_list",
]
