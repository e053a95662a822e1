"""Appointment writes (the row, its history, its slot) and its video room, each keyed so that a
retry changes nothing.

The appointment workflow runs the DB writes as local activities (rule 8) and the video calls as
ordinary ones. Taking a slot and moving it are single transactions under the doctor's advisory
lock, and PostgreSQL's exclusion constraint (appointments_no_double_booking, SQLSTATE 23P01)
is the last word: a slot taken meanwhile is refused SLOT_TAKEN with the next free slots.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import Range, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import plan_limits, scheduling
from activities.analytics import mark_days_changed
from activities.lifecycle import refusal, write_first_history, write_transition
from activities.providers.video import VideoRoom, VideoRooms
from domain import errors
from domain.appointment import AppointmentStatus
from domain.availability import Availability, check_request, held_range
from domain.lifecycle import Actor
from domain.models.appointments import Appointment, AppointmentStatusHistory, DoctorWaitlist
from domain.models.audit import AuditLog
from domain.models.catalog import Doctor, Hospital, HospitalDoctor
from domain.models.notifications import Channel
from domain.models.users import Patient, User
from domain.subscription import Limits

APPOINTMENT_NOT_FOUND = "APPOINTMENT_NOT_FOUND"
SLOT_TAKEN = "SLOT_TAKEN"
EXCLUSION_VIOLATION = "23P01"


class NewAppointment(BaseModel):
    """The row as the API asked for it; the workflow inserts it in its first step."""

    appointment_id: uuid.UUID
    appointment_number: str
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    booking_id: uuid.UUID | None = None
    follow_up_of: uuid.UUID | None = None
    appointment_type: str = "teleconsult"
    starts_at: datetime
    duration_minutes: int = Field(default=30, ge=5, le=480)
    consultation_fee: Decimal | None = None
    currency: str | None = None
    chief_complaint: str | None = None
    created_by_user_id: uuid.UUID | None = None
    created_by_role: str | None = None
    # Staff may book outside the doctor's rules (minimum notice, hours): never over another.
    override: bool = False
    # Set by the workflow before the insert: the confirmation hold and the time to pay.
    confirm_by: datetime | None = None
    payment_due_at: datetime | None = None

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)


class StoredAppointment(BaseModel):
    """What the workflow needs to know about the stored row: ids, times, status; no PHI."""

    appointment_id: uuid.UUID
    appointment_number: str
    status: AppointmentStatus
    status_seq: int
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    booking_id: uuid.UUID | None = None
    follow_up_of: uuid.UUID | None = None
    starts_at: datetime
    ends_at: datetime
    reschedule_count: int = 0
    patient_user_id: uuid.UUID | None = None
    doctor_user_id: uuid.UUID | None = None
    hospital_admin_user_ids: list[uuid.UUID] = Field(default_factory=list)
    patient_timezone: str = "UTC"
    patient_locale: str | None = None
    patient_channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL])
    requires_prepayment: bool = False
    change_notice_hours: int = 24
    max_reschedules: int = 2
    consultation_fee: Decimal | None = None
    video_room_id: str | None = None


class AppointmentChanges(BaseModel):
    """Row fields a move sets along with the status; None leaves a field as it is."""

    confirm_by: datetime | None = None
    payment_due_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancellation_reason: str | None = None
    cancelled_by_role: str | None = None
    no_show_party: str | None = None


class TransitionRecord(BaseModel):
    appointment_id: uuid.UUID
    seq: int = Field(ge=1)
    from_status: AppointmentStatus
    to_status: AppointmentStatus
    actor_user_id: uuid.UUID | None = None
    actor_role: str
    notes: str | None = None
    changes: AppointmentChanges = Field(default_factory=AppointmentChanges)


class RescheduleRecord(BaseModel):
    appointment_id: uuid.UUID
    # The count this reschedule makes (reschedule_count + 1): a retry finds it written.
    count: int = Field(ge=1)
    starts_at: datetime
    duration_minutes: int
    actor_user_id: uuid.UUID | None = None
    actor_role: str
    reason: str | None = None
    # A staff override of the limits: kept in the audit log.
    override: bool = False


class Rescheduled(BaseModel):
    starts_at: datetime
    ends_at: datetime
    reschedule_count: int


class DetailsUpdate(BaseModel):
    appointment_id: uuid.UUID
    fields: list[str]
    chief_complaint: str | None = None
    notes: str | None = None


class JoinRecord(BaseModel):
    appointment_id: uuid.UUID
    party: str
    at: datetime


class FreedSlot(BaseModel):
    doctor_id: uuid.UUID
    starts_at: datetime


class SlotSearch(BaseModel):
    """The doctor's next free times after `after` (those held for `patient_id` count as free
    for them)."""

    doctor_id: uuid.UUID
    patient_id: uuid.UUID | None = None
    after: datetime
    count: int = Field(default=3, ge=1, le=10)


class VideoRoomRequest(BaseModel):
    appointment_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class VideoRoomRevocation(BaseModel):
    appointment_id: uuid.UUID
    room_id: str


class OpenedRoom(BaseModel):
    room_id: str
    url: str


def _slot_taken(next_slots: list[Any]) -> ApplicationError:
    return refusal(
        errors.Conflict(
            "That time is no longer free",
            code=SLOT_TAKEN,
            details={
                "next_slots": [
                    {"starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat()}
                    for s in next_slots
                ]
            },
        )
    )


def _bounds(value: Range[datetime]) -> tuple[datetime, datetime] | None:
    if value.lower is None or value.upper is None:
        return None
    return value.lower, value.upper


class _HeldByOther(Exception):
    """Someone else holds the time (a waitlist offer): refused like a taken slot."""


def _is_exclusion(err: IntegrityError) -> bool:
    orig = err.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == EXCLUSION_VIOLATION or "appointments_no_double_booking" in str(err)


class AppointmentActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        video: VideoRooms | None = None,
        *,
        default_timezone: str = "UTC",
        analytics_timezone: str | None = None,
        plan_defaults: Limits = plan_limits.NO_LIMITS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._video = video
        self._default_timezone = default_timezone
        # The roll-up's zone: a move of an appointment of a past day marks that day stale (the
        # roll-up counts appointments by status on their day). None: nothing is marked.
        self._analytics_zone = ZoneInfo(analytics_timezone) if analytics_timezone else None
        # The limits without a plan in force (settings.subscription_default_limits).
        self._plan_defaults = plan_defaults

    async def _days_changed(self, session: AsyncSession, *moments: datetime) -> None:
        if self._analytics_zone is not None:
            await mark_days_changed(session, list(moments), self._analytics_zone, datetime.now(UTC))

    async def _next_slots(self, doctor_id: uuid.UUID, after: datetime) -> list[Any]:
        async with self._sessionmaker() as session, session.begin():
            return list(await scheduling.next_free_slots(session, doctor_id, after))

    async def _take(
        self,
        session: AsyncSession,
        doctor: Doctor,
        patient_id: uuid.UUID,
        starts_at: datetime,
        ends_at: datetime,
        *,
        check_rules: bool,
        ignore: tuple[datetime, datetime] | None = None,
    ) -> tuple[datetime, datetime]:
        """Under the doctor's lock: the doctor's rules (422) and others' holds (409); the held
        range to write. The exclusion constraint still has the last word on insert/update."""
        await scheduling.lock_doctor(session, doctor.id)
        lo, hi = held_range(starts_at, ends_at, doctor.buffer_minutes)
        if check_rules:
            av = Availability.of(doctor, self._default_timezone)
            day = av.local_day(starts_at)
            day_lo = datetime.combine(day, time.min, tzinfo=av.zone)
            day_hi = day_lo + timedelta(days=1)
            # The consultations that start on that local day (a held range's lower bound is
            # its start; the buffer only extends its end, so a late one of the day before
            # whose buffer runs past midnight is not this day's), but the one being moved.
            taken = [
                r
                for r in await scheduling.taken_ranges(session, doctor.id, day_lo, day_hi)
                if r != ignore and day_lo <= r[0] < day_hi
            ]
            try:
                check_request(av, starts_at, datetime.now(UTC), len(taken))
            except errors.Invalid as exc:
                raise refusal(exc) from None
        if await scheduling.held_by_other(session, doctor.id, lo, hi, patient_id):
            raise _HeldByOther()
        await scheduling.take_own_holds(session, doctor.id, lo, hi, patient_id)
        return lo, hi

    @activity.defn
    async def create_appointment(self, new: NewAppointment) -> StoredAppointment:
        """Insert the row, its slot and its first history entry (seq 1, requested) in one
        transaction, after the plan's limit is checked under its holder's lock in that same
        transaction (409 PLAN_LIMIT_REACHED, nothing written). Keyed by the appointment id: a
        retry finds the row and returns it."""
        async with self._sessionmaker() as session:
            try:
                async with session.begin():
                    if await session.get(Appointment, new.appointment_id) is None:
                        await self._insert(session, new)
            except (IntegrityError, _HeldByOther) as err:
                if isinstance(err, IntegrityError) and not _is_exclusion(err):
                    raise
                raise _slot_taken(await self._next_slots(new.doctor_id, new.starts_at)) from None
            async with session.begin():
                return await self._stored(session, new.appointment_id)

    async def _insert(self, session: AsyncSession, new: NewAppointment) -> None:
        doctor = await session.get(Doctor, new.doctor_id)
        if doctor is None:
            raise refusal(errors.Invalid("No such doctor", code="DOCTOR_NOT_FOUND"))
        # The plan's lock before the doctor's time lock (activities/plan_limits.py).
        try:
            await plan_limits.check_appointment_limit(
                session, self._plan_defaults, new.doctor_id, new.starts_at
            )
        except errors.Conflict as exc:
            raise refusal(exc) from None
        lo, hi = await self._take(
            session,
            doctor,
            new.patient_id,
            new.starts_at,
            new.ends_at,
            check_rules=not new.override,
        )
        await session.execute(
            insert(Appointment).values(
                id=new.appointment_id,
                appointment_number=new.appointment_number,
                patient_id=new.patient_id,
                doctor_id=new.doctor_id,
                booking_id=new.booking_id,
                follow_up_of=new.follow_up_of,
                appointment_type=new.appointment_type,
                status=AppointmentStatus.REQUESTED.value,
                status_seq=1,
                scheduled_date=new.starts_at,
                ends_at=new.ends_at,
                held_range=Range(lo, hi, bounds="[)"),
                duration_minutes=new.duration_minutes,
                consultation_fee=new.consultation_fee,
                currency=new.currency,
                chief_complaint=new.chief_complaint,
                confirm_by=new.confirm_by,
                payment_due_at=new.payment_due_at,
            )
        )
        await write_first_history(
            session,
            Appointment,
            AppointmentStatusHistory,
            new.appointment_id,
            AppointmentStatus.REQUESTED,
            user_id=new.created_by_user_id,
            role=new.created_by_role,
        )
        await session.flush()

    @activity.defn
    async def record_appointment_transition(self, record: TransitionRecord) -> bool:
        """Move the row and append its history row in one transaction; a repeat is a no-op."""
        async with self._sessionmaker() as session, session.begin():
            written = await write_transition(
                session,
                Appointment,
                AppointmentStatusHistory,
                record.appointment_id,
                record.seq,
                record.from_status,
                record.to_status,
                Actor(record.actor_role, record.actor_user_id),
                record.notes,
                record.changes.model_dump(),
                not_found_code=APPOINTMENT_NOT_FOUND,
            )
            if written and self._analytics_zone is not None:
                # The row write_transition loaded: no second round trip.
                row = await session.get(Appointment, record.appointment_id)
                if row is not None:
                    await self._days_changed(session, row.scheduled_date)
            return written

    @activity.defn
    async def reschedule_appointment(self, record: RescheduleRecord) -> Rescheduled:
        """Take the new range and release the old in one UPDATE of one transaction: if the new
        one is taken, or it lies in another month already at the plan's limit (409
        PLAN_LIMIT_REACHED, checked under the plan's lock in this transaction), the transaction
        rolls back and the appointment keeps its old slot."""
        ends_at = record.starts_at + timedelta(minutes=record.duration_minutes)
        async with self._sessionmaker() as session:
            try:
                async with session.begin():
                    row = await session.scalar(
                        select(Appointment)
                        .where(Appointment.id == record.appointment_id)
                        .with_for_update()
                        .execution_options(populate_existing=True)
                    )
                    if row is None:
                        raise refusal(
                            errors.NotFound("No such appointment", code=APPOINTMENT_NOT_FOUND)
                        )
                    if row.reschedule_count >= record.count:
                        return Rescheduled(
                            starts_at=row.scheduled_date,
                            ends_at=row.ends_at,
                            reschedule_count=row.reschedule_count,
                        )
                    doctor = await session.get(Doctor, row.doctor_id)
                    assert doctor is not None
                    # Into another month: the plan's limit, under its lock, before the doctor's
                    # time lock (activities/plan_limits.py); refused, nothing is written.
                    try:
                        await plan_limits.check_move_limit(
                            session,
                            self._plan_defaults,
                            row.id,
                            row.doctor_id,
                            row.scheduled_date,
                            record.starts_at,
                        )
                    except errors.Conflict as exc:
                        raise refusal(exc) from None
                    lo, hi = await self._take(
                        session,
                        doctor,
                        row.patient_id,
                        record.starts_at,
                        ends_at,
                        check_rules=not record.override,
                        ignore=_bounds(row.held_range),
                    )
                    old = row.scheduled_date
                    row.scheduled_date = record.starts_at
                    row.ends_at = ends_at
                    row.duration_minutes = record.duration_minutes
                    row.held_range = Range(lo, hi, bounds="[)")
                    row.reschedule_count = record.count
                    await self._days_changed(session, old, record.starts_at)
                    session.add(
                        AuditLog(
                            user_id=record.actor_user_id,
                            action=(
                                "appointment.reschedule_override"
                                if record.override
                                else "appointment.rescheduled"
                            ),
                            entity_type="appointment",
                            entity_id=row.id,
                            changes={
                                "from": old.isoformat(),
                                "to": record.starts_at.isoformat(),
                                "count": record.count,
                                "role": record.actor_role,
                                "override": record.override,
                            },
                        )
                    )
                    await session.flush()
                    return Rescheduled(
                        starts_at=record.starts_at, ends_at=ends_at, reschedule_count=record.count
                    )
            except (IntegrityError, _HeldByOther) as err:
                if isinstance(err, IntegrityError) and not _is_exclusion(err):
                    raise
                doctor_id = await self._doctor_of(record.appointment_id)
                raise _slot_taken(await self._next_slots(doctor_id, record.starts_at)) from None

    async def _doctor_of(self, appointment_id: uuid.UUID) -> uuid.UUID:
        async with self._sessionmaker() as session:
            doctor_id = await session.scalar(
                select(Appointment.doctor_id).where(Appointment.id == appointment_id)
            )
        assert doctor_id is not None
        return doctor_id

    @activity.defn
    async def record_override(self, record: RescheduleRecord) -> None:
        """A staff override of a cancellation's notice limit, in the audit log (keyed: once)."""
        action = "appointment.cancel_override"
        async with self._sessionmaker() as session, session.begin():
            # Keyed by the appointment (it is cancelled once): a retry writes nothing more.
            await session.execute(
                insert(AuditLog)
                .values(
                    id=uuid.uuid5(record.appointment_id, action),
                    user_id=record.actor_user_id,
                    action=action,
                    entity_type="appointment",
                    entity_id=record.appointment_id,
                    changes={"role": record.actor_role, "reason": record.reason},
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )

    @activity.defn
    async def update_appointment_details(self, change: DetailsUpdate) -> None:
        values = {
            name: getattr(change, name)
            for name in change.fields
            if name in ("chief_complaint", "notes")
        }
        if not values:
            return
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Appointment).where(Appointment.id == change.appointment_id).values(**values)
            )

    @activity.defn
    async def anyone_waiting(self, freed: FreedSlot) -> bool:
        """Whether a patient waits for this doctor on the freed slot's day (in UTC dates, one day
        either side for the zones), so that a slot nobody waits for sends no signal."""
        day = freed.starts_at.astimezone(UTC).date()
        async with self._sessionmaker() as session:
            found = await session.scalar(
                select(DoctorWaitlist.id)
                .where(
                    DoctorWaitlist.doctor_id == freed.doctor_id,
                    DoctorWaitlist.status.in_(("waiting", "offered")),
                    DoctorWaitlist.date_from <= day + timedelta(days=1),
                    DoctorWaitlist.date_to >= day - timedelta(days=1),
                )
                .limit(1)
            )
        return found is not None

    @activity.defn
    async def find_appointment_slots(self, search: SlotSearch) -> list[datetime]:
        """The starts of the doctor's next free slots (a read: a retry changes nothing), for
        the new time a patient is offered when the doctor did not come."""
        async with self._sessionmaker() as session, session.begin():
            slots = await scheduling.next_free_slots(
                session, search.doctor_id, search.after, search.count, patient_id=search.patient_id
            )
        return [slot.starts_at for slot in slots]

    @activity.defn
    async def record_joined(self, join: JoinRecord) -> None:
        """The first time each party joined; a later join leaves it."""
        column = "patient_joined_at" if join.party == "patient" else "doctor_joined_at"
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Appointment)
                .where(
                    Appointment.id == join.appointment_id, getattr(Appointment, column).is_(None)
                )
                .values({column: join.at})
            )

    @activity.defn
    async def open_video_room(self, request: VideoRoomRequest) -> OpenedRoom:
        """The appointment's room (the same one on a retry), stored on the row."""
        if self._video is None:
            raise ApplicationError("no video provider configured", non_retryable=True)
        room = await self._video.create_room(
            f"appointment:{request.appointment_id}", request.starts_at, request.ends_at
        )
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Appointment)
                .where(Appointment.id == request.appointment_id)
                .values(video_room_id=room.room_id, video_call_link=room.url)
            )
        return OpenedRoom(room_id=room.room_id, url=room.url)

    @activity.defn
    async def revoke_video_room(self, revocation: VideoRoomRevocation) -> None:
        if self._video is not None:
            await self._video.revoke_room(revocation.room_id)
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Appointment)
                .where(Appointment.id == revocation.appointment_id)
                .values(video_room_id=None, video_call_link=None)
            )

    async def _stored(self, session: AsyncSession, appointment_id: uuid.UUID) -> StoredAppointment:
        row = (
            await session.execute(
                select(Appointment, Patient.user_id, Doctor, User)
                .join(Patient, Patient.id == Appointment.patient_id)
                .join(Doctor, Doctor.id == Appointment.doctor_id)
                .outerjoin(User, User.id == Patient.user_id)
                .where(Appointment.id == appointment_id)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if row is None:
            raise refusal(errors.NotFound("No such appointment", code=APPOINTMENT_NOT_FOUND))
        appointment, patient_user_id, doctor, patient_user = row
        admins = await session.scalars(
            select(Hospital.admin_user_id)
            .join(HospitalDoctor, HospitalDoctor.hospital_id == Hospital.id)
            .where(HospitalDoctor.doctor_id == doctor.id, Hospital.admin_user_id.is_not(None))
        )
        channels = [Channel.EMAIL, Channel.IN_APP]
        if patient_user is not None and patient_user.phone:
            channels.insert(1, Channel.SMS)
        return StoredAppointment(
            appointment_id=appointment.id,
            appointment_number=appointment.appointment_number,
            status=AppointmentStatus(appointment.status),
            status_seq=appointment.status_seq,
            patient_id=appointment.patient_id,
            doctor_id=appointment.doctor_id,
            booking_id=appointment.booking_id,
            follow_up_of=appointment.follow_up_of,
            starts_at=appointment.scheduled_date,
            ends_at=appointment.ends_at,
            reschedule_count=appointment.reschedule_count,
            patient_user_id=patient_user_id,
            doctor_user_id=doctor.user_id,
            hospital_admin_user_ids=sorted({a for a in admins if a is not None}, key=str),
            patient_timezone=(getattr(patient_user, "timezone", None) or self._default_timezone),
            patient_locale=patient_user.locale if patient_user is not None else None,
            patient_channels=channels,
            requires_prepayment=bool(doctor.requires_prepayment)
            and (appointment.consultation_fee or Decimal(0)) > 0,
            change_notice_hours=doctor.change_notice_hours,
            max_reschedules=doctor.max_reschedules,
            consultation_fee=appointment.consultation_fee,
            video_room_id=appointment.video_room_id,
        )


def appointment_activity_list(
    activities: AppointmentActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    """Every appointment activity, bound to the database and the video rooms."""
    return [
        activities.create_appointment,
        activities.record_appointment_transition,
        activities.reschedule_appointment,
        activities.record_override,
        activities.update_appointment_details,
        activities.record_joined,
        activities.anyone_waiting,
        activities.find_appointment_slots,
        activities.open_video_room,
        activities.revoke_video_room,
    ]


__all__ = [
    "AppointmentActivities",
    "AppointmentChanges",
    "DetailsUpdate",
    "JoinRecord",
    "NewAppointment",
    "OpenedRoom",
    "RescheduleRecord",
    "Rescheduled",
    "SlotSearch",
    "StoredAppointment",
    "TransitionRecord",
    "VideoRoom",
    "VideoRoomRequest",
    "VideoRoomRevocation",
]
