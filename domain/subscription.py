"""The statuses of the subscriptions hospitals and doctors hold. The tables exist; no workflow
renews or bills a subscription yet (its lifecycle comes with the subscriptions issue)."""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


class PlanTarget(StrEnum):
    """Who a subscription plan is sold to."""

    HOSPITAL = "hospital"
    DOCTOR = "doctor"
