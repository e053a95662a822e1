"""Appointments (teleconsultations and visits) and their status history.

Like bookings, appointments are history: their patient and doctor cannot be deleted under them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.appointment import AppointmentStatus, AppointmentType
from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        one_of("status", [s.value for s in AppointmentStatus], nullable=False),
        one_of("appointment_type", [t.value for t in AppointmentType]),
        CheckConstraint("duration_minutes > 0", name="duration_minutes_positive"),
        CheckConstraint("consultation_fee >= 0", name="consultation_fee_non_negative"),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        Index(None, "created_at"),
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
    scheduled_date: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(server_default=text("30"))
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
