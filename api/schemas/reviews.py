"""Review shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Rating = Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
ReviewText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID | None
    doctor_id: uuid.UUID | None
    hospital_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    rating: int
    review_text: str | None
    is_verified: bool
    is_published: bool
    created_at: datetime
    updated_at: datetime


class ReviewCreate(BaseModel):
    """A patient reviews a doctor they consulted or a hospital they were treated at."""

    model_config = ConfigDict(extra="forbid")

    doctor_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    rating: Rating
    review_text: ReviewText | None = None

    @model_validator(mode="after")
    def names_a_subject(self) -> ReviewCreate:
        if self.doctor_id is None and self.hospital_id is None:
            raise ValueError("a review is of a doctor (doctor_id) or a hospital (hospital_id)")
        return self


class ReviewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating | None = None
    review_text: ReviewText | None = None
    is_published: bool | None = None


class ReviewVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_verified: bool = True
    is_published: bool = Field(True, description="Publish it as well (counts in the rating)")


class ReviewFilters(BaseModel):
    doctor_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    rating: Rating | None = None
    is_published: bool | None = None
