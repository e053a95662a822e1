"""Subscription plan shapes: what hospitals and doctors can subscribe to."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.schemas.payments import Currency, Money
from domain.subscription import PlanTarget

PlanName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PlanType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Feature = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Features = Annotated[list[Feature], Field(max_length=50)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    plan_type: str | None
    target_user: PlanTarget
    price_monthly: Decimal | None
    price_yearly: Decimal | None
    currency: str
    features: list[Any] | None
    max_doctors: int | None = Field(description="Doctors a hospital may list; null: no limit")
    max_appointments_per_month: int | None = Field(description="null: no limit")
    is_active: bool = Field(description="False once retired: kept by its subscribers, not sold")
    created_at: datetime
    updated_at: datetime


def _fits(target: PlanTarget | None, max_doctors: int | None) -> None:
    if target == PlanTarget.DOCTOR and max_doctors is not None:
        raise ValueError("max_doctors bounds a hospital's doctors: a doctor's plan has none")


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlanName
    plan_type: PlanType | None = None
    target_user: PlanTarget
    price_monthly: Money | None = None
    price_yearly: Money | None = None
    currency: Currency = "USD"
    features: Features = Field(default_factory=list)
    max_doctors: Count | None = None
    max_appointments_per_month: Count | None = None

    @model_validator(mode="after")
    def _sold(self) -> Self:
        if self.price_monthly is None and self.price_yearly is None:
            raise ValueError("a plan has a monthly price, a yearly price or both")
        _fits(self.target_user, self.max_doctors)
        return self


class PlanUpdate(BaseModel):
    """A change applies to new subscriptions and to renewals; a period already paid keeps its
    price. Retire a plan with DELETE (or `is_active: false`), bring it back with `true`."""

    model_config = ConfigDict(extra="forbid")

    name: PlanName | None = None
    plan_type: PlanType | None = None
    price_monthly: Money | None = None
    price_yearly: Money | None = None
    currency: Currency | None = None
    features: Features | None = None
    max_doctors: Count | None = None
    max_appointments_per_month: Count | None = None
    is_active: bool | None = None


class PlanFilters(BaseModel):
    target_user: PlanTarget | None = None
    is_active: bool | None = Field(None, description="Admins only: retired plans too")
