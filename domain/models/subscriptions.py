"""Subscription plans, the subscriptions hospitals and doctors hold, and their status history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args
from domain.subscription import BillingCycle, PlanTarget, SubscriptionStatus


class SubscriptionPlan(Base):
    __tablename__ = "subscription_plans"
    __table_args__ = (
        one_of("target_user", [t.value for t in PlanTarget], nullable=False),
        UniqueConstraint("name", "target_user"),
        CheckConstraint("price_monthly >= 0", name="price_monthly_non_negative"),
        CheckConstraint("price_yearly >= 0", name="price_yearly_non_negative"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    plan_type: Mapped[str | None] = mapped_column(String(50))
    target_user: Mapped[str] = mapped_column(String(50))
    price_monthly: Mapped[Decimal | None]
    price_yearly: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    features: Mapped[list[Any] | None]
    max_doctors: Mapped[int | None]
    max_appointments_per_month: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Subscription(Base):
    """Held by exactly one hospital or one doctor, and goes with it."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        one_of("status", [s.value for s in SubscriptionStatus], nullable=False),
        one_of("billing_cycle", [c.value for c in BillingCycle], nullable=False),
        CheckConstraint("num_nonnulls(hospital_id, doctor_id) = 1", name="one_holder"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # A plan with subscribers is retired (is_active), never deleted.
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription_plans.id", ondelete="RESTRICT"), index=True
    )
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("doctors.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    billing_cycle: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(
        String(50), server_default=SubscriptionStatus.INCOMPLETE.value, index=True
    )
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    auto_renew: Mapped[bool] = mapped_column(server_default=text("true"))
    # The subscriber's calendar: periods start at its midnight.
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    payment_gateway: Mapped[str | None] = mapped_column(String(50))
    # The price of one period of the current plan and cycle.
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    # The index of the period start_date..end_date (0 the first; periods count from the anchor).
    current_period: Mapped[int] = mapped_column(server_default=text("0"))
    next_charge_at: Mapped[datetime | None]
    next_charge_amount: Mapped[Decimal | None]
    cancelled_at: Mapped[datetime | None]
    # The saved method for off-session renewals: the gateway's ids and the card's last digits.
    gateway_customer_id: Mapped[str | None] = mapped_column(String(255))
    gateway_payment_method_id: Mapped[str | None] = mapped_column(String(255))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    # A downgrade or cycle change waiting for the next period.
    pending_change: Mapped[dict[str, Any] | None]
    # While past due: when it failed, the retries planned, the grace's end, the last decline.
    dunning: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SubscriptionStatusHistory(StatusHistory, Base):
    __tablename__ = "subscription_status_history"
    __table_args__ = history_table_args("subscription_id", [s.value for s in SubscriptionStatus])

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
