"""The subscriptions hospitals and doctors hold: their lifecycle as data, their periods, what a
change of plan costs, the dunning schedule after a failed renewal, and the plans' limits.

SUBSCRIPTION is the lifecycle: a subscription waits for its first payment (incomplete), runs
(active), falls behind on a failed renewal (past_due) and ends cancelled or expired. Money moves
are the platform's; what a person asks for is a cancellation. Everything else here is arithmetic
the workflow and the API share, pure and exact: dates in the subscriber's calendar, money in
Decimal to the currency's minor unit.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.access import STAFF, Role
from domain.errors import Conflict, Invalid
from domain.lifecycle import PLATFORM, Actor, TransitionTable, moves
from domain.money import quantum


class SubscriptionStatus(StrEnum):
    # Waiting for its first payment; unpaid past the payment window it expires.
    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    # A renewal failed: dunning retries until paid or past the grace period.
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


S = SubscriptionStatus
# Who holds a subscription (for their hospital, or for themselves), and who acts for anyone.
SUBSCRIBERS: frozenset[str] = frozenset({Role.HOSPITAL_ADMIN, Role.DOCTOR})
TERMINAL: frozenset[SubscriptionStatus] = frozenset({S.CANCELLED, S.EXPIRED})
# Statuses in which the plan's limits apply (a past-due subscriber keeps them through grace).
IN_FORCE: frozenset[SubscriptionStatus] = frozenset({S.ACTIVE, S.PAST_DUE})


@dataclass(frozen=True)
class SubscriptionParties:
    """The people who hold the subscription: the hospital's admins, or the doctor."""

    holders: frozenset[uuid.UUID]


def _involved(actor: Actor, parties: SubscriptionParties | None) -> bool:
    if actor.is_system or actor.role in STAFF:
        return True
    return parties is not None and actor.user_id in parties.holders


# A status written again records a change without moving: a renewal's new period or a plan
# change on an active one, a failed retry or a new card on a past-due one.
TRANSITIONS = (
    *moves(S.INCOMPLETE, [S.ACTIVE, S.EXPIRED], PLATFORM),
    # Given up before the first payment: the subscriber or staff.
    *moves(S.INCOMPLETE, [S.CANCELLED], SUBSCRIBERS | STAFF),
    *moves(S.ACTIVE, [S.ACTIVE, S.PAST_DUE], PLATFORM),
    # At the period's end after a cancellation asked for then (the platform), or at once by staff
    # (with a prorated refund). A subscriber's own cancellation waits for the period's end.
    *moves(S.ACTIVE, [S.CANCELLED], STAFF | PLATFORM),
    *moves(S.PAST_DUE, [S.ACTIVE, S.PAST_DUE, S.EXPIRED], PLATFORM),
    # Nothing paid is left to keep: a cancellation during dunning ends it at once.
    *moves(S.PAST_DUE, [S.CANCELLED], SUBSCRIBERS | STAFF | PLATFORM),
)
SUBSCRIPTION: TransitionTable[SubscriptionStatus] = TransitionTable(
    "subscription",
    SubscriptionStatus,
    S.INCOMPLETE,
    TERMINAL,
    TRANSITIONS,
    involved=_involved,
    not_involved=("NOT_SUBSCRIBER", "Only the subscriber or staff act on this subscription"),
)


# ---- periods ----------------------------------------------------------------------------------


def add_months(anchor: date, months: int) -> date:
    """The anchor's day `months` later, or the month's last day when it is shorter: 31 January
    plus one month is 28 (or 29) February, plus two is 31 March."""
    if months < 0:
        raise ValueError("months must not be negative")
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


CYCLE_MONTHS = {BillingCycle.MONTHLY: 1, BillingCycle.YEARLY: 12}


@dataclass(frozen=True)
class Period:
    """One billing period in the subscriber's calendar: from `start` up to (not including)
    `end`, the day the next period starts and the renewal is charged."""

    index: int
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def days_left(self, today: date) -> int:
        """Whole days of the period from `today` (included) to its end."""
        return max(0, min((self.end - today).days, self.days))


def period(anchor: date, cycle: BillingCycle, index: int) -> Period:
    """The `index`-th period (0 the first) of a subscription that started on `anchor`. Every
    period is counted from the anchor, never from the previous end, so a short month does not
    pull later periods off their day."""
    if index < 0:
        raise ValueError("a period index is not negative")
    months = CYCLE_MONTHS[BillingCycle(cycle)]
    return Period(
        index, add_months(anchor, index * months), add_months(anchor, (index + 1) * months)
    )


def period_on(anchor: date, cycle: BillingCycle, day: date) -> Period:
    """The period that holds `day` (the first one for a day before the anchor)."""
    months = CYCLE_MONTHS[BillingCycle(cycle)]
    elapsed = max(0, (day.year - anchor.year) * 12 + day.month - anchor.month) // months
    current = period(anchor, cycle, elapsed)
    while current.start > day and current.index > 0:
        current = period(anchor, cycle, current.index - 1)
    while current.end <= day:
        current = period(anchor, cycle, current.index + 1)
    return current


def local_day_start(day: date, timezone: str) -> datetime:
    """The first instant of `day` in the subscriber's zone, in UTC. Where the clocks skip
    midnight, that is the instant the day begins."""
    zone = ZoneInfo(timezone)
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def local_date(at: datetime, timezone: str) -> date:
    """The subscriber's calendar day at an instant."""
    if at.tzinfo is None:
        raise ValueError("an instant carries its time zone")
    return at.astimezone(ZoneInfo(timezone)).date()


# ---- money ------------------------------------------------------------------------------------


def prorate(amount: Decimal, days_left: int, days_in_period: int, currency: str) -> Decimal:
    """The part of `amount` for the days left of the period, to the currency's minor unit
    (half up): the price of the rest of a period, or what a cancellation now refunds."""
    if days_in_period <= 0:
        raise ValueError("a period has days")
    if not 0 <= days_left <= days_in_period:
        raise ValueError("days left lie within the period")
    exact = amount * Decimal(days_left) / Decimal(days_in_period)
    return exact.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def upgrade_charge(
    old_price: Decimal, new_price: Decimal, current: Period, today: date, currency: str
) -> Decimal:
    """What an upgrade taking effect `today` charges: the difference for the days left. Not an
    upgrade (the same price or less): nothing now, the change waits for the next period."""
    difference = new_price - old_price
    if difference <= 0:
        return Decimal(0).quantize(quantum(currency))
    return prorate(difference, current.days_left(today), current.days, currency)


# ---- dunning ----------------------------------------------------------------------------------


class DeclineAction(StrEnum):
    """What a declined renewal leads to."""

    RETRY = "retry"  # try the same method again later (no money, a processing error)
    ASK = "ask"  # the subscriber must act (a new card, an authentication): told what to do
    STOP = "stop"  # never charge this method again (lost or stolen card, fraud)


# Decline codes as the gateways report them (Stripe's decline_code / code, Razorpay's
# error_reason from its card and recurring error lists); anything not listed is retried
# (insufficient_funds, Razorpay's bank_technical_error / gateway_technical_error, ...).
ASK_CODES = frozenset(
    {
        "expired_card",
        "card_expired",
        "authentication_required",
        "payment_intent_authentication_failure",
        "incorrect_cvc",
        "invalid_cvc",
        "incorrect_number",
        "invalid_number",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "card_not_supported",
        "currency_not_supported",
        "invalid_account",
        "new_account_information_available",
        "payment_method_missing",
        # Razorpay: the card must be authenticated, replaced or its token renewed.
        "authentication_failed",
        "customer_action_required",
        "token_not_eligible",
        "card_number_invalid",
        "debit_instrument_inactive",
    }
)
STOP_CODES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "fraudulent",
        "pickup_card",
        "restricted_card",
        "security_violation",
        "merchant_blacklist",
        "stop_payment_order",
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "card_declined_fraud",
        # Razorpay: the card is blocked by its bank or its holder (reported lost or stolen).
        "debit_instrument_blocked",
    }
)


def decline_action(code: str | None) -> DeclineAction:
    normalized = (code or "").strip().lower()
    if normalized in STOP_CODES:
        return DeclineAction.STOP
    if normalized in ASK_CODES:
        return DeclineAction.ASK
    return DeclineAction.RETRY


@dataclass(frozen=True)
class DunningPolicy:
    retry_days: tuple[int, ...] = (1, 3, 7)
    grace_days: int = 14

    def __post_init__(self) -> None:
        if self.grace_days < 0 or any(d <= 0 for d in self.retry_days):
            raise ValueError("retries come after the failure, grace is not negative")
        if list(self.retry_days) != sorted(set(self.retry_days)):
            raise ValueError("retry days rise")


@dataclass(frozen=True)
class DunningSchedule:
    """Fixed at the moment a renewal failed (or a new method was added): when to try again,
    and when the grace ends and the subscription expires unpaid."""

    started_at: datetime
    retries: tuple[datetime, ...]
    grace_ends: datetime

    def next_retry(self, after: datetime) -> datetime | None:
        return next((at for at in self.retries if at > after), None)


def dunning_schedule(started_at: datetime, policy: DunningPolicy) -> DunningSchedule:
    if started_at.tzinfo is None:
        raise ValueError("an instant carries its time zone")
    grace_ends = started_at + timedelta(days=policy.grace_days)
    retries = tuple(
        started_at + timedelta(days=d) for d in policy.retry_days if d <= policy.grace_days
    )
    return DunningSchedule(started_at, retries, grace_ends)


# ---- limits -----------------------------------------------------------------------------------

PLAN_LIMIT_REACHED = "PLAN_LIMIT_REACHED"


@dataclass(frozen=True)
class Limits:
    """What a holder may have: from its plan, or the platform's defaults without one. None is
    no limit."""

    plan: str
    max_doctors: int | None
    max_appointments_per_month: int | None


def check_limit(limits: Limits, what: str, used: int) -> None:
    """Conflict PLAN_LIMIT_REACHED when one more `what` ("doctors", "appointments_per_month")
    would pass the limit."""
    limit = getattr(limits, f"max_{what}")
    if limit is not None and used + 1 > limit:
        raise Conflict(
            f"The {limits.plan} plan allows {limit} {what.replace('_', ' ')}",
            code=PLAN_LIMIT_REACHED,
            details={"limit": limit, "used": used, "plan": limits.plan, "what": what},
        )


def month_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The calendar month holding `day` in the holder's zone, as UTC instants [start, end)."""
    first = day.replace(day=1)
    return local_day_start(first, timezone), local_day_start(add_months(first, 1), timezone)


def price_of(price_monthly: Decimal | None, price_yearly: Decimal | None, cycle: str) -> Decimal:
    """A plan's price for the cycle; a plan not sold for that cycle refuses it."""
    price = price_monthly if BillingCycle(cycle) == BillingCycle.MONTHLY else price_yearly
    if price is None:
        raise Invalid(f"This plan is not sold {cycle}", code="CYCLE_NOT_OFFERED")
    return price
