"""Booking writes: the row and its status history, each write keyed so a retry changes nothing.

The booking workflow runs these as local activities (rule 8): they take milliseconds and run in
the worker that holds the workflow. Only the workflow calls them, one at a time per booking.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lifecycle import HISTORY_GAP as HISTORY_GAP
from activities.lifecycle import write_first_history, write_transition
from domain.access import Role
from domain.booking import BookingStatus
from domain.lifecycle import Actor
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Hospital
from domain.models.users import Patient, User

# Stable codes, so the workflow and dashboards can match on them.
BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"


class NewBooking(BaseModel):
    """The row as the API asked for it; the workflow inserts it in its first step."""

    booking_id: uuid.UUID
    booking_number: str
    patient_id: uuid.UUID
    hospital_id: uuid.UUID | None = None
    treatment_id: uuid.UUID | None = None
    package_id: uuid.UUID | None = None
    booking_type: str | None = None
    requested_date: date | None = None
    medical_details: dict[str, Any] | None = None
    travel_details: dict[str, Any] | None = None
    notes: str | None = None
    coordinator_id: uuid.UUID | None = None
    created_by_user_id: uuid.UUID | None = None
    created_by_role: str | None = None


class StoredBooking(BaseModel):
    """What the workflow needs to know about the stored row: ids and status, no PHI."""

    booking_id: uuid.UUID
    booking_number: str
    status: BookingStatus
    status_seq: int
    patient_id: uuid.UUID
    hospital_id: uuid.UUID | None = None
    patient_user_id: uuid.UUID | None = None
    hospital_admin_user_id: uuid.UUID | None = None
    coordinator_id: uuid.UUID | None = None


class BookingChanges(BaseModel):
    """Row fields a move sets along with the status; None leaves a field as it is."""

    quotation_details: dict[str, Any] | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    payment_status: str | None = None
    confirmed_date: date | None = None
    completion_date: date | None = None
    refund_requested: dict[str, Any] | None = None


class TransitionRecord(BaseModel):
    booking_id: uuid.UUID
    # The history row's number: bookings.status_seq + 1 when first written.
    seq: int = Field(ge=1)
    from_status: BookingStatus
    to_status: BookingStatus
    actor_user_id: uuid.UUID | None = None
    actor_role: str
    notes: str | None = None
    changes: BookingChanges = Field(default_factory=BookingChanges)


class RecordedTransition(BaseModel):
    booking_id: uuid.UUID
    seq: int
    status: BookingStatus
    # False when an earlier attempt had already written it.
    written: bool
    # The row's updated_at once written (None in results recorded before it was returned), so
    # the API answers a move from the workflow's view without reading the row again.
    updated_at: datetime | None = None


class DetailsUpdate(BaseModel):
    booking_id: uuid.UUID
    # Exactly these fields are set (to None as well): a PATCH names what it changes.
    fields: list[str]
    requested_date: date | None = None
    medical_details: dict[str, Any] | None = None
    travel_details: dict[str, Any] | None = None
    notes: str | None = None
    booking_type: str | None = None


DETAIL_COLUMNS = frozenset(
    {"requested_date", "medical_details", "travel_details", "notes", "booking_type"}
)


class CoordinatorAssignment(BaseModel):
    booking_id: uuid.UUID
    coordinator_id: uuid.UUID


class RefundRecord(BaseModel):
    """The money side of a booking after a refund: its payment status and, for a cancellation,
    how the refund it asked for ended (merged into bookings.refund_requested)."""

    booking_id: uuid.UUID
    payment_status: str | None = None
    outcome: dict[str, Any] | None = None


class AdminsQuery(BaseModel):
    """Who gets the platform's alerts when a booking has no coordinator."""

    limit: int = 20


class BookingActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def create_booking(self, new: NewBooking) -> StoredBooking:
        """Insert the row and its first history entry (seq 1, requested) in one transaction.

        Keyed by the booking id: a retry, or a second run of the same workflow, finds the row
        and returns it as stored."""
        async with self._sessionmaker() as session, session.begin():
            inserted = await session.execute(
                insert(Booking)
                .values(
                    id=new.booking_id,
                    booking_number=new.booking_number,
                    patient_id=new.patient_id,
                    hospital_id=new.hospital_id,
                    treatment_id=new.treatment_id,
                    package_id=new.package_id,
                    booking_type=new.booking_type,
                    requested_date=new.requested_date,
                    medical_details=new.medical_details,
                    travel_details=new.travel_details,
                    notes=new.notes,
                    coordinator_id=new.coordinator_id,
                    status=BookingStatus.REQUESTED.value,
                    status_seq=1,
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(Booking.id)
            )
            if inserted.scalar_one_or_none() is not None:
                await write_first_history(
                    session,
                    Booking,
                    BookingStatusHistory,
                    new.booking_id,
                    BookingStatus.REQUESTED,
                    user_id=new.created_by_user_id,
                    role=new.created_by_role,
                )
            return await self._stored(session, new.booking_id)

    @activity.defn
    async def record_transition(self, record: TransitionRecord) -> RecordedTransition:
        """Move the row and append its history row in one transaction; a repeat is a no-op.

        The row lock serializes writers; status_seq says how far the row already is, so a
        retried attempt (or a replayed workflow) with a seq already written changes nothing."""
        async with self._sessionmaker() as session, session.begin():
            written = await write_transition(
                session,
                Booking,
                BookingStatusHistory,
                record.booking_id,
                record.seq,
                record.from_status,
                record.to_status,
                Actor(record.actor_role, record.actor_user_id),
                record.notes,
                record.changes.model_dump(),
                not_found_code=BOOKING_NOT_FOUND,
            )
            await session.flush()
            # The row write_transition locked, from the session (no query): its updated_at came
            # back with the UPDATE (RETURNING), or with the lock when it was written before.
            row = await session.get(Booking, record.booking_id)
            updated_at = row.updated_at if row is not None else None
        return RecordedTransition(
            booking_id=record.booking_id,
            seq=record.seq,
            status=record.to_status,
            written=written,
            updated_at=updated_at,
        )

    @activity.defn
    async def update_booking_details(self, change: DetailsUpdate) -> None:
        """Set the named detail fields; setting a value twice leaves the same row."""
        values = {name: getattr(change, name) for name in change.fields if name in DETAIL_COLUMNS}
        if not values:
            return
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                update(Booking)
                .where(Booking.id == change.booking_id)
                .values(**values)
                .returning(Booking.id)
            )
            if result.scalar_one_or_none() is None:
                raise ApplicationError(
                    f"booking {change.booking_id} not found",
                    type=BOOKING_NOT_FOUND,
                    non_retryable=True,
                )

    @activity.defn
    async def record_refund(self, record: RefundRecord) -> None:
        """Set the payment status and merge the refund's outcome; writing it twice leaves the
        same row (the outcome's keys are set, not appended)."""
        async with self._sessionmaker() as session, session.begin():
            booking = await session.scalar(
                select(Booking).where(Booking.id == record.booking_id).with_for_update()
            )
            if booking is None:
                raise ApplicationError(
                    f"booking {record.booking_id} not found",
                    type=BOOKING_NOT_FOUND,
                    non_retryable=True,
                )
            if record.payment_status is not None:
                booking.payment_status = record.payment_status
            if record.outcome is not None:
                booking.refund_requested = {**(booking.refund_requested or {}), **record.outcome}

    @activity.defn
    async def assign_coordinator(self, assignment: CoordinatorAssignment) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Booking)
                .where(Booking.id == assignment.booking_id)
                .values(coordinator_id=assignment.coordinator_id)
            )

    @activity.defn
    async def find_admins(self, query: AdminsQuery) -> list[uuid.UUID]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(User.id)
                .where(User.user_type == Role.ADMIN.value, User.is_active.is_(True))
                .order_by(User.created_at, User.id)
                .limit(query.limit)
            )
            return list(rows)

    async def _stored(self, session: AsyncSession, booking_id: uuid.UUID) -> StoredBooking:
        row = (
            await session.execute(
                select(Booking, Patient.user_id, Hospital.admin_user_id)
                .join(Patient, Patient.id == Booking.patient_id)
                .outerjoin(Hospital, Hospital.id == Booking.hospital_id)
                .where(Booking.id == booking_id)
            )
        ).one_or_none()
        if row is None:
            raise ApplicationError(
                f"booking {booking_id} not found", type=BOOKING_NOT_FOUND, non_retryable=True
            )
        booking, patient_user_id, hospital_admin_user_id = row
        return StoredBooking(
            booking_id=booking.id,
            booking_number=booking.booking_number,
            status=BookingStatus(booking.status),
            status_seq=booking.status_seq,
            patient_id=booking.patient_id,
            hospital_id=booking.hospital_id,
            patient_user_id=patient_user_id,
            hospital_admin_user_id=hospital_admin_user_id,
            coordinator_id=booking.coordinator_id,
        )


def booking_activity_list(
    activities: BookingActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    """Every booking activity, bound to the database, for Worker(activities=...)."""
    return [
        activities.create_booking,
        activities.record_transition,
        activities.update_booking_details,
        activities.assign_coordinator,
        activities.find_admins,
        activities.record_refund,
    ]


def build_booking_activities(sessionmaker: async_sessionmaker[AsyncSession]) -> BookingActivities:
    return BookingActivities(sessionmaker)
