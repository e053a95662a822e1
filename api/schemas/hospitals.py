"""Hospital shapes: what the public reads, what an admin or the hospital's own admin writes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Text255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")]
PhoneText = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9 ()-]{6,20}$")]


class HospitalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    type: str | None
    description: str | None
    logo: str | None
    country: str | None
    city: str | None
    address: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    phone: str | None
    email: str | None
    website: str | None
    certifications: list[Any] | None
    specializations: list[Any] | None
    is_verified: bool
    is_active: bool
    admin_user_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class HospitalWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Text100 | None = None
    description: LongText | None = None
    logo: Url | None = None
    country: Text100 | None = None
    city: Text100 | None = None
    address: LongText | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90, max_digits=10, decimal_places=8)] | None = (
        None
    )
    longitude: (
        Annotated[Decimal, Field(ge=-180, le=180, max_digits=11, decimal_places=8)] | None
    ) = None
    phone: PhoneText | None = None
    email: EmailStr | None = None
    website: Url | None = None
    certifications: list[Annotated[str, StringConstraints(max_length=200)]] | None = Field(
        None, max_length=50
    )
    specializations: list[Annotated[str, StringConstraints(max_length=200)]] | None = Field(
        None, max_length=50
    )
    admin_user_id: uuid.UUID | None = None
    bank_details: dict[str, Annotated[str, StringConstraints(max_length=200)]] | None = None
    is_active: bool | None = None


class HospitalCreate(HospitalWrite):
    name: Text255


class HospitalUpdate(HospitalWrite):
    name: Text255 | None = None


class HospitalFilters(BaseModel):
    country: Text100 | None = None
    city: Text100 | None = None
    is_verified: bool | None = None
