"""Medical record shapes: what a member of the care team reads, and the metadata one may change.
The file itself comes as multipart form fields (see the router)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, computed_field

from domain.vocabulary import RecordType

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=20_000)]


class MedicalRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    record_type: RecordType
    title: str | None
    description: str | None
    file_size: int | None
    file_type: str | None
    uploaded_by_user_id: uuid.UUID | None
    record_date: date | None
    is_shared_with_doctors: bool
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def download_url(self) -> str:
        return f"/api/v1/medical-records/{self.id}/download"


class MedicalRecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: RecordType | None = None
    title: Title | None = None
    description: Description | None = None
    record_date: date | None = None
    is_shared_with_doctors: bool | None = None
    appointment_id: uuid.UUID | None = None


class MedicalRecordFilters(BaseModel):
    patient_id: uuid.UUID | None = None
    record_type: RecordType | None = None
    appointment_id: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None
