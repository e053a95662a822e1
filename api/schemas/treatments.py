"""Treatment shapes: the catalog entry, and the hospitals that offer it at their price."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.i18n import Localized
from api.schemas.hospitals import Days, LongText, Text100, Text255, Url


class TreatmentOut(Localized):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    category: str | None
    description: str | None
    preparation: str | None
    aftercare: str | None
    duration_days: int | None
    is_global: bool
    image: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class TreatmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Text100 | None = None
    description: LongText | None = None
    preparation: LongText | None = None
    aftercare: LongText | None = None
    duration_days: Days | None = None
    is_global: bool = True
    image: Url | None = None
    is_active: bool = True


class TreatmentCreate(TreatmentWrite):
    name: Text255


class TreatmentUpdate(TreatmentWrite):
    name: Text255 | None = None


class TreatmentFilters(BaseModel):
    category: Text100 | None = None
    is_active: bool | None = None
    is_global: bool | None = None


class HospitalCard(BaseModel):
    id: uuid.UUID
    name: str
    city: str | None
    country: str | None
    logo: str | None
    is_verified: bool


class TreatmentOfferOut(BaseModel):
    """One hospital's offer of the treatment."""

    id: uuid.UUID
    hospital_id: uuid.UUID
    treatment_id: uuid.UUID
    base_price: Decimal | None
    currency: str
    duration_days: int | None
    success_rate: Decimal | None
    description: str | None
    inclusions: list[Any] | None
    exclusions: list[Any] | None
    is_available: bool
    created_at: datetime
    updated_at: datetime
    hospital: HospitalCard
