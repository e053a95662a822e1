"""Laboratory shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.schemas.hospitals import LongText, PhoneText, Text100, Text200, Text255


class LaboratoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    hospital_id: uuid.UUID | None
    type: str | None
    country: str | None
    city: str | None
    address: str | None
    phone: str | None
    email: str | None
    services_offered: list[Any] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class LaboratoryWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hospital_id: uuid.UUID | None = None
    type: Text100 | None = None
    country: Text100 | None = None
    city: Text100 | None = None
    address: LongText | None = None
    phone: PhoneText | None = None
    email: EmailStr | None = None
    services_offered: list[Text200] | None = Field(None, max_length=200)
    is_active: bool = True


class LaboratoryCreate(LaboratoryWrite):
    name: Text255


class LaboratoryUpdate(LaboratoryWrite):
    name: Text255 | None = None


class LaboratoryFilters(BaseModel):
    hospital_id: uuid.UUID | None = None
    country: Text100 | None = None
    city: Text100 | None = None
    type: Text100 | None = None
