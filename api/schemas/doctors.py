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
    timezone: str | None
    weekly_hours: list[Any]
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


Minutes = Annotated[int, Field(ge=5, le=480)]


class AvailabilityUpdate(BaseModel):
    """Changes the fields given; weekly_hours and dates_off replace the whole list (an empty list
    clears it)."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(
        None, description="IANA time zone of the hours", examples=["Europe/Istanbul"]
    )
    weekly_hours: list[SlotIn] | None = Field(None, max_length=availability.MAX_SLOTS)
    dates_off: list[date] | None = Field(
        None, max_length=availability.MAX_DATES_OFF, description="ISO dates the doctor is off"
    )
    slot_minutes: Minutes | None = Field(None, description="Length of one consultation")
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] | None = Field(
        None, description="Kept free after each consultation"
    )
    minimum_notice_hours: Annotated[int, Field(ge=0, le=24 * 90)] | None = None
    max_per_day: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="Most consultations a day; null for no limit"
    )
    change_notice_hours: Annotated[int, Field(ge=0, le=24 * 90)] | None = Field(
        None, description="Patients may reschedule or cancel only up to this before the start"
    )
    max_reschedules: Annotated[int, Field(ge=0, le=20)] | None = None
    requires_prepayment: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("timezone may not be null")
        return availability.check_timezone(value)

    @field_validator("weekly_hours")
    @classmethod
    def _slots(cls, value: list[SlotIn] | None) -> list[SlotIn] | None:
        if value is None:
            raise ValueError("weekly_hours may not be null; send [] to clear it")
        availability.check_no_overlap([item.slot() for item in value])
        return value

    @field_validator(
        "dates_off",
        "slot_minutes",
        "buffer_minutes",
        "minimum_notice_hours",
        "change_notice_hours",
        "max_reschedules",
        "requires_prepayment",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The columns to write, in their stored shape."""
        data = self.model_dump(exclude_unset=True)
        if self.weekly_hours is not None:
            data["weekly_hours"] = availability.stored_hours(s.slot() for s in self.weekly_hours)
        if self.dates_off is not None:
            data["dates_off"] = [d.isoformat() for d in sorted(set(self.dates_off))]
        return data


class WeeklyHoursOut(BaseModel):
    day: int = Field(description="0-6, Monday = 0")
    day_name: str
    start: str
    end: str


class AvailabilityOut(BaseModel):
    doctor_id: uuid.UUID
    timezone: str = Field(description="The doctor's zone (the default zone when not set)")
    weekly_hours: list[WeeklyHoursOut]
    dates_off: list[date]
    slot_minutes: int
    buffer_minutes: int
    minimum_notice_hours: int
    max_per_day: int | None
    change_notice_hours: int
    max_reschedules: int
    requires_prepayment: bool


class FreeSlot(BaseModel):
    """A free consultation time, with the asker's UTC offset."""

    starts_at: datetime
    ends_at: datetime


class ScheduleOut(BaseModel):
    doctor_id: uuid.UUID
    timezone: str = Field(description="The zone the slots are shown in (the asker's)")
    date_from: date
    date_to: date
    slots: list[FreeSlot]
    availability: AvailabilityOut


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
