"""Prescription shapes: the medications a doctor writes for an appointment of theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.schemas.appointments import AppointmentOut

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Instructions = Annotated[str, StringConstraints(max_length=20_000)]


class Medication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    dosage: Short
    frequency: Short
    duration: Short
    notes: Annotated[str, StringConstraints(max_length=500)] | None = None


Medications = Annotated[list[Medication], Field(min_length=1, max_length=50)]


class PrescriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_id: uuid.UUID | None
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    medications: list[dict[str, Any]] | None
    instructions: str | None
    valid_until: date | None
    pdf_url: str | None
    is_dispensed: bool
    created_at: datetime
    updated_at: datetime


class PrescriptionCreate(BaseModel):
    """patient_id and doctor_id come from the appointment; when sent they must match it."""

    model_config = ConfigDict(extra="forbid")

    appointment_id: uuid.UUID
    medications: Medications
    instructions: Instructions | None = None
    valid_until: date | None = None
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None


class PrescriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    medications: Medications | None = None
    instructions: Instructions | None = None
    valid_until: date | None = None
    is_dispensed: bool | None = None


class PrescriptionFilters(BaseModel):
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    is_dispensed: bool | None = None


def _earliest_date_anywhere() -> date:
    # The calendar date in the zone furthest behind (UTC-12): a date before it has passed
    # everywhere, whatever the doctor's own zone.
    return (datetime.now(UTC) - timedelta(hours=12)).date()


class AppointmentPrescriptionIn(BaseModel):
    """POST /appointments/:id/prescription: the patient and the doctor are the appointment's."""

    model_config = ConfigDict(extra="forbid")

    medications: Medications
    instructions: Instructions | None = None
    valid_until: date | None = None

    @field_validator("valid_until")
    @classmethod
    def _not_past(cls, value: date | None) -> date | None:
        if value is not None and value < _earliest_date_anywhere():
            raise ValueError("valid_until is in the past")
        return value


class AppointmentPrescriptionOut(BaseModel):
    """The prescription as stored, and the appointment it moved on (prescription_provided)."""

    prescription: PrescriptionOut
    appointment: AppointmentOut
