"""Insurance provider shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr

from api.schemas.hospitals import PhoneText, Text100, Text255, Url


class InsuranceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_name: str
    country: str | None
    logo: str | None
    contact_phone: str | None
    contact_email: str | None
    website: str | None
    coverage_details: dict[str, Any] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class InsuranceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Text100 | None = None
    logo: Url | None = None
    contact_phone: PhoneText | None = None
    contact_email: EmailStr | None = None
    website: Url | None = None
    coverage_details: dict[str, Any] | None = None
    is_active: bool = True


class InsuranceCreate(InsuranceWrite):
    provider_name: Text255


class InsuranceUpdate(InsuranceWrite):
    provider_name: Text255 | None = None


class InsuranceFilters(BaseModel):
    country: Text100 | None = None
