"""Package shapes: a bundle of treatment, stay and travel at one price in one country."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from api.i18n import Localized
from api.schemas.hospitals import (
    Currency,
    Days,
    ItemList,
    LongText,
    Price,
    Text100,
    Text255,
)

# Stored in JSONB arrays, so kept as text.
IdText = Annotated[uuid.UUID, PlainSerializer(str, return_type=str)]
SeasonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class PackageOut(Localized):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    country: str | None
    description: str | None
    duration_days: int | None
    base_price: Decimal | None
    currency: str
    inclusions: list[Any] | None
    hospital_ids: list[uuid.UUID] | None
    treatment_ids: list[uuid.UUID] | None
    flights_included: bool
    accommodation_included: bool
    transfers_included: bool
    seasonal_pricing: dict[str, Any] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class PackageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Text100 | None = None
    description: LongText | None = None
    duration_days: Days | None = None
    base_price: Price | None = None
    currency: Currency = "USD"
    inclusions: ItemList | None = None
    hospital_ids: list[IdText] | None = Field(None, max_length=50)
    treatment_ids: list[IdText] | None = Field(None, max_length=50)
    flights_included: bool = False
    accommodation_included: bool = False
    transfers_included: bool = False
    # Season name -> price multiplier, e.g. {"summer": 1.2}.
    seasonal_pricing: dict[SeasonName, Annotated[float, Field(gt=0, le=10)]] | None = Field(
        None, max_length=12
    )
    is_active: bool = True


class PackageCreate(PackageWrite):
    name: Text255


class PackageUpdate(PackageWrite):
    name: Text255 | None = None


class PackageFilters(BaseModel):
    country: Text100 | None = None
    duration: Days | None = Field(None, description="At most this many days")
    price_min: Price | None = Field(None, description="Lowest base price")
    price_max: Price | None = Field(None, description="Highest base price")
