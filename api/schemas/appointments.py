"""Appointment shapes: the request to create one, the commands that change it, what reads return."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from domain.appointment import AppointmentStatus, AppointmentType
from domain.payment import PaymentStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-11-15T10:00:00Z)")
    return value


When = Annotated[datetime, AfterValidator(_aware)]


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID | None = Field(
        None, description="Required for staff; a patient books for themselves"
    )
    doctor_id: uuid.UUID
    appointment_type: AppointmentType = AppointmentType.TELECONSULT
    scheduled_date: When
    duration_minutes: int | None = Field(
        None, ge=5, le=480, description="Default: the doctor's slot length"
    )
    chief_complaint: Text | None = None
    booking_id: uuid.UUID | None = Field(None, description="Staff: the booking it is made for")
    follow_up_of: uuid.UUID | None = Field(None, description="The appointment it follows up")
    override: bool = Field(False, description="Staff: book outside the doctor's hours or notice")


class AppointmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chief_complaint: Text | None = None
    notes: Text | None = None


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AppointmentStatus
    notes: Text | None = None


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_scheduled_date: When
    duration_minutes: int | None = Field(None, ge=5, le=480)
    reason: Reason | None = None
    override: bool = Field(False, description="Staff: past the notice or reschedule limit")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None
    override: bool = False


class AppointmentFilters(BaseModel):
    status: AppointmentStatus | None = None
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None


class AppointmentPaymentOut(BaseModel):
    """A payment made for the appointment, as its payment workflow recorded it (refunds of a
    cancellation by notice or a doctor's no-show included)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: PaymentStatus
    amount: Decimal
    currency: str
    payment_gateway: str
    payment_date: datetime | None = None
    refund_amount: Decimal | None = None
    refund_date: datetime | None = None
    created_at: datetime


class AppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_number: str
    patient_id: uuid.UUID
    patient_name: str | None = None
    doctor_id: uuid.UUID
    doctor_name: str | None = None
    booking_id: uuid.UUID | None = None
    follow_up_of: uuid.UUID | None = None
    appointment_type: str | None = None
    status: AppointmentStatus
    scheduled_date: datetime
    ends_at: datetime | None = None
    duration_minutes: int
    consultation_fee: Decimal | None = None
    currency: str | None = None
    chief_complaint: str | None = None
    notes: str | None = None
    reschedule_count: int = 0
    cancellation_reason: str | None = None
    cancelled_by_role: str | None = None
    no_show_party: str | None = None
    confirm_by: datetime | None = None
    payment_due_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    has_video_room: bool = False
    next_statuses: list[AppointmentStatus] = Field(default_factory=list)
    # GET /appointments/:id only (None in lists): the status of the payment that took the money
    # (else of the latest attempt), everything refunded, and every attempt, oldest first.
    payment_status: PaymentStatus | None = None
    refunded_amount: Decimal | None = None
    payments: list[AppointmentPaymentOut] | None = None
    created_at: datetime
    updated_at: datetime


class TimelineEvent(BaseModel):
    seq: int
    status: AppointmentStatus
    from_status: AppointmentStatus | None = None
    at: datetime
    by: dict[str, Any]
    notes: str | None = None


class ReminderOut(BaseModel):
    label: str
    at: datetime
    state: str  # sent or pending


class AppointmentTimeline(BaseModel):
    events: list[TimelineEvent]
    reminders: list[ReminderOut] = Field(default_factory=list)
    waiting_for: str | None = None
    until: datetime | None = None


class VideoCallOut(BaseModel):
    url: str
    opens_at: datetime
    closes_at: datetime
    provider: str
