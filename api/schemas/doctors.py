"""Doctor shapes: the public profile, what an admin or the doctor writes, the weekly schedule,
and what only the doctor sees (their appointments and patients)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.i18n import Localized
from api.schemas.hospitals import LongText, Price, Text100
from domain import availability

Language = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class DoctorOut(Localized):
    """The public profile. Name and picture come from the doctor's user account."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    first_name: str | None = None
    last_name: str | None = None
    profile_picture: str | None = None
    specialty: str | None
    qualification: str | None
    experience_years: int | None
    license_number: str | None
    bio: str | None
    consultation_fee: Decimal | None
    languages: list[Any] | None
    availability_slots: list[Any] | None
    is_available_teleconsult: bool
    rating: Decimal
    total_reviews: int
    created_at: datetime
    updated_at: datetime


class DoctorWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specialty: Text100 | None = None
    qualification: LongText | None = None
    experience_years: Annotated[int, Field(ge=0, le=80)] | None = None
    license_number: Text100 | None = None
    bio: LongText | None = None
    consultation_fee: Price | None = None
    languages: list[Language] | None = Field(None, max_length=30)
    is_available_teleconsult: bool | None = None


class DoctorCreate(DoctorWrite):
    """An admin opens the profile of an existing user of type doctor."""

    user_id: uuid.UUID


class DoctorUpdate(DoctorWrite):
    # Kept by the platform from published reviews; only an admin may correct them.
    rating: Annotated[Decimal, Field(ge=0, le=5, max_digits=3, decimal_places=2)] | None = None
    total_reviews: Annotated[int, Field(ge=0)] | None = None


class DoctorFilters(BaseModel):
    specialty: Text100 | None = None
    hospital_id: uuid.UUID | None = None
    language: Language | None = None
    teleconsult: bool | None = Field(None, description="Offers teleconsultations")
    fee_min: Price | None = Field(None, description="Lowest consultation fee")
    fee_max: Price | None = Field(None, description="Highest consultation fee")


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: int | str = Field(description="0-6 with Monday = 0, or a day name", examples=["monday"])
    start: str = Field(description="HH:MM, 24-hour, in the schedule's time zone")
    end: str = Field(description="HH:MM, after start")

    @field_validator("day")
    @classmethod
    def _day(cls, value: int | str) -> int:
        return availability.parse_day(value)

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        return availability.parse_clock(value).strftime("%H:%M")

    @model_validator(mode="after")
    def _ordered(self) -> SlotIn:
        self.slot()
        return self

    def slot(self) -> availability.WeeklySlot:
        return availability.make_slot(self.day, self.start, self.end)


class AvailabilityUpdate(BaseModel):
    """Replaces the doctor's whole weekly schedule; an empty list clears it."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(description="IANA time zone", examples=["Europe/Istanbul"])
    slots: list[SlotIn] = Field(max_length=availability.MAX_SLOTS)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return availability.check_timezone(value)

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: list[SlotIn]) -> list[SlotIn]:
        availability.check_no_overlap([item.slot() for item in value])
        return value


class WeeklySlotOut(BaseModel):
    day: int
    day_name: str
    start: str
    end: str
    timezone: str


class BusySlot(BaseModel):
    """An appointment already taken: when, and nothing about whom."""

    start: datetime
    end: datetime


class ScheduleOut(BaseModel):
    doctor_id: uuid.UUID
    timezone: str | None
    weekly: list[WeeklySlotOut]
    booked: list[BusySlot]


class DoctorAppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_number: str
    patient_id: uuid.UUID
    booking_id: uuid.UUID | None
    appointment_type: str | None
    status: str
    scheduled_date: datetime
    duration_minutes: int
    consultation_fee: Decimal | None
    currency: str | None
    chief_complaint: str | None
    follow_up_date: date | None
    created_at: datetime


class DoctorAppointmentFilters(BaseModel):
    status: Annotated[str, StringConstraints(max_length=50)] | None = None
    date_from: datetime | None = Field(None, description="Scheduled at or after")
    date_to: datetime | None = Field(None, description="Scheduled before")


class DoctorReviewOut(BaseModel):
    """A published review, without who wrote it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rating: int
    review_text: str | None
    is_verified: bool
    created_at: datetime


class DoctorPatientOut(BaseModel):
    """A patient the doctor has (had) an appointment with: contact details, not records."""

    patient_id: uuid.UUID
    user_id: uuid.UUID | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    gender: str | None
    date_of_birth: date | None
    country: str | None
    appointments: int
    last_appointment_at: datetime
