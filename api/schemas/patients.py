"""Patient shapes: the profile (with its medical fields only for the patient's care team), what
a patient or an admin writes, and the summaries of a patient's appointments, bookings and
payments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.dates import BirthDate

Text20 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=2000)]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PhoneText = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9 ()-]{6,20}$")]
BloodGroup = Annotated[str, StringConstraints(pattern=r"^(A|B|AB|O)[+-]$")]

MEDICAL_FIELDS = ("medical_history", "allergies", "current_medications")


class PatientOut(BaseModel):
    """medical_history, allergies and current_medications are null unless medical_visible:
    only the patient, their doctors, the coordinators of their bookings and admins see them."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    date_of_birth: date | None
    gender: str | None
    blood_group: str | None
    country: str | None
    city: str | None
    address: str | None
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    insurance_provider: str | None
    insurance_policy_number: str | None
    medical_visible: bool = False
    medical_history: dict[str, Any] | None = None
    allergies: list[Any] | None = None
    current_medications: list[Any] | None = None
    created_at: datetime
    updated_at: datetime


class PatientWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_of_birth: BirthDate = None
    gender: Text20 | None = None
    blood_group: BloodGroup | None = None
    country: Text100 | None = None
    city: Text100 | None = None
    address: LongText | None = None
    emergency_contact_name: Text100 | None = None
    emergency_contact_phone: PhoneText | None = None
    insurance_provider: Text255 | None = None
    insurance_policy_number: Text100 | None = None
    medical_history: dict[str, Any] | None = None
    allergies: list[Item] | None = Field(None, max_length=100)
    current_medications: list[Item | dict[str, Any]] | None = Field(None, max_length=100)


class PatientCreate(PatientWrite):
    """A patient creates their own profile (user_id is theirs); an admin names the user."""

    user_id: uuid.UUID | None = None


class PatientUpdate(PatientWrite):
    pass


class PatientFilters(BaseModel):
    country: Text100 | None = None
    city: Text100 | None = None
    gender: Text20 | None = None
    blood_group: BloodGroup | None = None


class PatientAppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_number: str
    doctor_id: uuid.UUID
    booking_id: uuid.UUID | None
    appointment_type: str | None
    status: str
    scheduled_date: datetime
    duration_minutes: int
    consultation_fee: Decimal | None
    currency: str | None
    created_at: datetime


class PatientPaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    transaction_id: str
    booking_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    amount: Decimal
    currency: str
    payment_method: str | None
    payment_gateway: str
    status: str
    payment_date: datetime | None
    created_at: datetime
