"""Lab test shapes: an order for a test, its progress, and whether a result file is in."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from domain.vocabulary import LabTestStatus

Notes = Annotated[str, StringConstraints(max_length=20_000)]
TestType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TestName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class LabTestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    test_number: str
    patient_id: uuid.UUID
    doctor_id: uuid.UUID | None
    lab_id: uuid.UUID | None
    test_type: str | None
    test_name: str | None
    scheduled_date: date | None
    status: LabTestStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime
    # The storage key: used to say whether there is a result, never shown.
    result_url: str | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def result_download_url(self) -> str | None:
        return f"/api/v1/lab-tests/{self.id}/result" if self.result_url else None


class LabTestCreate(BaseModel):
    """A doctor orders for a patient of theirs (they are the ordering doctor); a coordinator or
    an admin may name the doctor."""

    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    test_name: TestName
    test_type: TestType | None = None
    lab_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    scheduled_date: date | None = None
    notes: Notes | None = None


class LabTestUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_name: TestName | None = None
    test_type: TestType | None = None
    lab_id: uuid.UUID | None = None
    scheduled_date: date | None = None
    status: LabTestStatus | None = None
    notes: Notes | None = None


class LabTestFilters(BaseModel):
    patient_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    lab_id: uuid.UUID | None = None
    status: LabTestStatus | None = None
    test_type: str | None = None
