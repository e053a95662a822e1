"""Hospital shapes: what the public reads, what an admin or the hospital's own admin writes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from api.i18n import Localized

Text255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")]
PhoneText = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9 ()-]{6,20}$")]
# Shared by the catalog's schemas: money is a Decimal that fits NUMERIC(12, 2), never negative.
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$"),
    Field(description="ISO 4217 code, e.g. USD", examples=["USD"]),
]
Days = Annotated[int, Field(ge=0, le=3650)]
ItemList = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]],
    Field(max_length=100),
]


class HospitalOut(Localized):
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
    rating: Decimal = Field(description="Average of published reviews, 0 to 5")
    total_reviews: int
    created_at: datetime
    updated_at: datetime


class HospitalWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None
    ) = None
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
    certifications: list[Text200] | None = Field(None, max_length=50)
    specializations: list[Text200] | None = Field(None, max_length=50)
    admin_user_id: uuid.UUID | None = None
    bank_details: dict[str, Text200] | None = None
    is_active: bool | None = None


class HospitalCreate(HospitalWrite):
    name: Text255


class HospitalUpdate(HospitalWrite):
    name: Text255 | None = None


class HospitalFilters(BaseModel):
    country: Text100 | None = None
    city: Text100 | None = None
    is_verified: bool | None = None


class HospitalVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_verified: bool = True


class DoctorCard(BaseModel):
    """Who a doctor is, as a list of a hospital's doctors shows them."""

    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    profile_picture: str | None
    specialty: str | None
    rating: Decimal
    consultation_fee: Decimal | None


class HospitalDoctorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doctor_id: uuid.UUID
    department: Text100 | None = None
    is_primary: bool = False
    start_date: date | None = None
    end_date: date | None = None


class HospitalDoctorOut(BaseModel):
    id: uuid.UUID
    hospital_id: uuid.UUID
    doctor_id: uuid.UUID
    department: str | None
    is_primary: bool
    start_date: date | None
    end_date: date | None
    created_at: datetime
    doctor: DoctorCard


class TreatmentCard(BaseModel):
    id: uuid.UUID
    name: str
    category: str | None
    description: str | None


class HospitalTreatmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    treatment_id: uuid.UUID
    base_price: Price | None = None
    currency: Currency = "USD"
    duration_days: Days | None = None
    success_rate: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = (
        None
    )
    description: LongText | None = None
    inclusions: ItemList | None = None
    exclusions: ItemList | None = None
    is_available: bool = True


class HospitalTreatmentOut(BaseModel):
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
    treatment: TreatmentCard
