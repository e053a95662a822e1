"""Appointments (teleconsultations and visits) and their status history.

Like bookings, appointments are history: their patient and doctor cannot be deleted under them.

No double booking, ever: every appointment keeps `held_range` ([start, end + the doctor's buffer),
domain.availability.held_range, written by whoever writes the times), and the exclusion constraint
appointments_no_double_booking refuses two overlapping held ranges of one doctor while they hold
time (any status but cancelled and no_show); a violation is SQLSTATE 23P01.

The waitlist (doctor_waitlist) and the slot a waitlist offer keeps for one patient until it
expires (slot_holds) live here too."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from domain.appointment import AppointmentStatus, AppointmentType
from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args

# Statuses that hold no time: the slot is free again.
FREES_TIME = (AppointmentStatus.CANCELLED.value, AppointmentStatus.NO_SHOW.value)
NO_SHOW_PARTIES = ("patient", "doctor", "both")
WAITLIST_STATUSES = ("waiting", "offered", "booked", "left", "expired")


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        one_of("status", [s.value for s in AppointmentStatus], nullable=False),
        one_of("appointment_type", [t.value for t in AppointmentType]),
        CheckConstraint("duration_minutes > 0", name="duration_minutes_positive"),
        CheckConstraint("consultation_fee >= 0", name="consultation_fee_non_negative"),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        CheckConstraint("ends_at > scheduled_date", name="ends_after_start"),
        CheckConstraint("reschedule_count >= 0", name="reschedule_count_non_negative"),
        one_of("no_show_party", NO_SHOW_PARTIES),
        Index(None, "created_at"),
        ExcludeConstraint(
            ("doctor_id", "="),
            ("held_range", "&&"),
            name="appointments_no_double_booking",
            using="gist",
            where=text(f"status NOT IN ({', '.join(repr(s) for s in FREES_TIME)})"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    appointment_number: Mapped[str] = mapped_column(String(50), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctors.id", ondelete="RESTRICT"), index=True
    )
    # An appointment made for a booking stands on its own if that booking is removed.
    booking_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    appointment_type: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(
        String(50), server_default=AppointmentStatus.REQUESTED.value, index=True
    )
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    # The start; ends_at is the end, held_range the time kept from others (see above).
    scheduled_date: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(server_default=text("30"))
    ends_at: Mapped[datetime]
    held_range: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    follow_up_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    reschedule_count: Mapped[int] = mapped_column(server_default=text("0"))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_by_role: Mapped[str | None] = mapped_column(String(50))
    no_show_party: Mapped[str | None] = mapped_column(String(10))
    # The hold deadline: unconfirmed by then, the appointment is cancelled.
    confirm_by: Mapped[datetime | None]
    payment_due_at: Mapped[datetime | None]
    video_room_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    patient_joined_at: Mapped[datetime | None]
    doctor_joined_at: Mapped[datetime | None]
    consultation_fee: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    chief_complaint: Mapped[str | None] = mapped_column(Text)
    diagnosis: Mapped[str | None] = mapped_column(Text)
    prescription: Mapped[dict[str, Any] | None]
    follow_up_date: Mapped[date | None]
    video_call_link: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AppointmentStatusHistory(StatusHistory, Base):
    __tablename__ = "appointment_status_history"
    __table_args__ = history_table_args("appointment_id", [s.value for s in AppointmentStatus])

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE")
    )


class DoctorWaitlist(Base):
    """A patient waiting for a free slot of a doctor on a date or in a date range."""

    __tablename__ = "doctor_waitlist"
    __table_args__ = (
        one_of("status", WAITLIST_STATUSES, nullable=False),
        CheckConstraint("date_to >= date_from", name="dates_ordered"),
        Index(None, "doctor_id", "status"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    date_from: Mapped[date]
    date_to: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), server_default="waiting")
    offered_start: Mapped[datetime | None]
    offered_end: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SlotHold(Base):
    """A slot kept for one patient (a waitlist offer) until expires_at: others cannot book it."""

    __tablename__ = "slot_holds"
    __table_args__ = (Index(None, "doctor_id", "expires_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    held_range: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    expires_at: Mapped[datetime]
    waitlist_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("doctor_waitlist.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = created_at_column()
