"""Request and response models of a doctor's waitlist (/doctors/{id}/waitlist)."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WaitlistStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    LEFT = "left"
    EXPIRED = "expired"


class WaitlistJoin(BaseModel):
    """One date, or a range (date_from..date_to, inclusive), in your own time zone."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = Field(None, description="The one day you wait for (ISO date)")
    date_from: dt.date | None = Field(None, description="First day of the range (ISO date)")
    date_to: dt.date | None = Field(None, description="Last day of the range, inclusive")

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        if self.date is not None:
            if self.date_from is not None or self.date_to is not None:
                raise ValueError("give a date, or date_from and date_to, not both")
            return self
        if self.date_from is None or self.date_to is None:
            raise ValueError("give a date, or both date_from and date_to")
        if self.date_to < self.date_from:
            raise ValueError("date_to must be on or after date_from")
        return self

    def days(self) -> tuple[dt.date, dt.date]:
        if self.date is not None:
            return self.date, self.date
        assert self.date_from is not None and self.date_to is not None
        return self.date_from, self.date_to


class WaitlistEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    doctor_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str | None = None
    date_from: dt.date
    date_to: dt.date
    # The zone the dates are days of: the patient's.
    timezone: str = "UTC"
    status: WaitlistStatus
    # The slot held for the patient while status is offered (and what was offered after).
    offered_start: datetime | None = None
    offered_end: datetime | None = None
    offer_expires_at: datetime | None = None
    created_at: datetime


class WaitlistFilters(BaseModel):
    status: WaitlistStatus | None = None
