"""Subscription plan shapes: what hospitals and doctors can subscribe to."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.schemas.payments import CheckoutOut, Currency, Money
from domain.payment import PaymentGateway
from domain.subscription import BillingCycle, PlanTarget, SubscriptionStatus

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


class SubscriptionCreate(BaseModel):
    """A hospital admin subscribes their hospital, a doctor themselves; an admin names either."""

    model_config = ConfigDict(extra="forbid")

    plan_id: uuid.UUID
    billing_cycle: BillingCycle
    payment_gateway: PaymentGateway = PaymentGateway.STRIPE
    hospital_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_holder(self) -> Self:
        if self.hospital_id is not None and self.doctor_id is not None:
            raise ValueError("a subscription is held by a hospital or by a doctor, not both")
        return self


class SubscriptionUpdate(BaseModel):
    """`auto_renew: true` undoes a cancellation at the period's end; a dearer plan of the same
    cycle takes effect now (the days left charged), a cheaper one or another cycle at the next
    period; `payment_method_id` replaces the card (during dunning: tried at once)."""

    model_config = ConfigDict(extra="forbid")

    auto_renew: bool | None = None
    plan_id: uuid.UUID | None = None
    billing_cycle: BillingCycle | None = None
    payment_method_id: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("nothing to change")
        return self


class SubscriptionFilters(BaseModel):
    status: SubscriptionStatus | None = None
    plan_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan_id: uuid.UUID
    hospital_id: uuid.UUID | None
    doctor_id: uuid.UUID | None
    status: SubscriptionStatus
    billing_cycle: BillingCycle
    amount: Decimal | None
    currency: str | None
    start_date: date | None = Field(description="The current period's first day")
    end_date: date | None = Field(description="The day the next period starts (renewal day)")
    current_period: int
    auto_renew: bool
    timezone: str
    next_charge_at: datetime | None
    next_charge_amount: Decimal | None
    pending_change: dict[str, Any] | None = Field(
        description="A downgrade or cycle change waiting for the next period"
    )
    dunning: dict[str, Any] | None = Field(
        description="While past due: planned retries, grace end, the last decline"
    )
    card_last4: str | None
    payment_gateway: str | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionDetail(SubscriptionOut):
    plan: PlanOut


class SubscriptionCreated(BaseModel):
    subscription: SubscriptionOut
    checkout: CheckoutOut


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(description="status, charge or planned_retry")
    status: str | None = None
    notes: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    payment_id: uuid.UUID | None = None
    period: int | None = None
