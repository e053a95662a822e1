"""Booking shapes: the request to create one, the commands that move it, and what reads return."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from api.schemas.appointments import AppointmentOut
from domain.access import Role
from domain.booking import BookingPaymentStatus, BookingStatus, BookingType

Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]


PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plain_date(value: Any) -> Any:
    """ "2027-02-01" is a date, not midnight of a datetime without a zone (which is refused)."""
    if isinstance(value, str) and PLAIN_DATE.fullmatch(value.strip()):
        return date.fromisoformat(value.strip())
    return value


def _end_of_day(value: datetime | date) -> datetime:
    """A bare date means "valid through that day" (UTC); a datetime must say its zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-06-30T18:00:00Z) or a plain date")
        return value
    return datetime.combine(value, time(23, 59, 59), tzinfo=UTC)


ValidUntil = Annotated[
    datetime | date,
    BeforeValidator(_plain_date),
    AfterValidator(_end_of_day),
    Field(
        description=(
            "Until when the quotation holds: a date-time with its zone "
            "(2027-02-01T18:00:00+05:30), or a plain date (2027-02-01), which means the end "
            "of that day in UTC (23:59:59Z)."
        )
    ),
]


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID | None = Field(
        None, description="Required for staff; a patient books for themselves"
    )
    hospital_id: uuid.UUID
    treatment_id: uuid.UUID | None = None
    package_id: uuid.UUID | None = None
    booking_type: BookingType = BookingType.TREATMENT
    requested_date: date | None = None
    medical_details: dict[str, Any] | None = None
    travel_details: dict[str, Any] | None = None
    notes: Notes | None = None


class BookingUpdate(BaseModel):
    """Details that stay editable while the booking is still being shaped (see domain.booking)."""

    model_config = ConfigDict(extra="forbid")

    requested_date: date | None = None
    medical_details: dict[str, Any] | None = None
    travel_details: dict[str, Any] | None = None
    notes: Notes | None = None
    booking_type: BookingType | None = None


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: BookingStatus
    notes: Notes | None = None


class QuotationItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ]
    amount: Annotated[Money, Field(gt=0, description="What the item costs (more than zero)")]


class QuotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[QuotationItemIn] = Field(min_length=1, max_length=100)
    currency: Currency
    valid_until: ValidUntil
    notes: Notes | None = None
    total_amount: Money | None = Field(None, description="If sent, must equal the sum of items")

    @model_validator(mode="after")
    def _total_is_the_sum(self) -> QuotationIn:
        total = sum((item.amount for item in self.items), Decimal("0"))
        if self.total_amount is not None and self.total_amount != total:
            raise ValueError(f"total_amount must equal the sum of the items ({total})")
        self.total_amount = total
        return self


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class CoordinatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coordinator_id: uuid.UUID


class BookingFilters(BaseModel):
    status: BookingStatus | None = None
    patient_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None = None
    coordinator_id: uuid.UUID | None = None
    created_from: date | None = Field(None, description="Created on or after this day (UTC)")
    created_to: date | None = Field(None, description="Created on or before this day (UTC)")


class BookingOut(BaseModel):
    """medical_details, travel_details and notes are null unless medical_visible: a coordinator
    sees them only on the bookings assigned to them (the queue shows the rest as a summary)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    booking_number: str
    patient_id: uuid.UUID
    patient_name: str | None = None
    hospital_id: uuid.UUID | None
    hospital_name: str | None = None
    treatment_id: uuid.UUID | None
    treatment_name: str | None = None
    package_id: uuid.UUID | None
    package_name: str | None = None
    booking_type: BookingType | None
    status: BookingStatus
    payment_status: BookingPaymentStatus
    requested_date: date | None
    confirmed_date: date | None
    completion_date: date | None
    total_amount: Decimal | None
    currency: str | None
    medical_details: dict[str, Any] | None
    quotation_details: dict[str, Any] | None
    travel_details: dict[str, Any] | None
    refund_requested: dict[str, Any] | None
    notes: str | None
    coordinator_id: uuid.UUID | None
    medical_visible: bool = False
    created_at: datetime
    updated_at: datetime
    # The row's status_seq when read (not part of the answer): a move answered from the
    # workflow's view checks that it follows this very state.
    _status_seq: int | None = PrivateAttr(default=None)


class Actor(BaseModel):
    user_id: uuid.UUID | None
    role: str | None
    name: str | None = None


class TimelineEvent(BaseModel):
    seq: int
    status: BookingStatus
    from_status: BookingStatus | None
    at: datetime
    by: Actor
    notes: str | None


class WaitingForOut(BaseModel):
    description: str
    until: datetime | None = None


class Timeline(BaseModel):
    events: list[TimelineEvent]
    waiting_for: WaitingForOut | None
    appointments: list[AppointmentOut] = Field(
        default_factory=list,
        description="Teleconsultations scheduled for this booking (those the caller may see), "
        "soonest first",
    )


BOOKING_ROLES = (Role.PATIENT, Role.COORDINATOR, Role.HOSPITAL_ADMIN, Role.ADMIN)
