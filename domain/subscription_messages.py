"""What SubscriptionWorkflow tells the subscriber: one template per message kind
(activities/templates/<locale>/subscription_*.{txt,html}) and the variables each needs.

The variables are plain facts (amounts as decimal strings, ISO dates, the plan's name, the card's
last four digits, decline codes): the templates word and format them in the subscriber's language
(`|money(currency)`, `|day`). Never a name or an address: the notification activity loads the
recipient. Pure functions, used by the workflow and by the tests of every language.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.subscription import DeclineAction

ACTIVATED = "subscription_activated"
REMINDER = "subscription_reminder"
RENEWED = "subscription_renewed"
RENEWAL_FAILED = "subscription_renewal_failed"
CANCELLED = "subscription_cancelled"
ENDED = "subscription_ended"
CHANGED = "subscription_changed"

# Every template's variables, exactly (tests/activities/test_render.py holds each language to it).
KEYS: dict[str, frozenset[str]] = {
    ACTIVATED: frozenset(
        {"plan", "amount", "currency", "period_end", "invoice_number", "invoice_url"}
    ),
    REMINDER: frozenset({"plan", "amount", "currency", "renews_on", "last4"}),
    RENEWED: frozenset(
        {"plan", "amount", "currency", "period_end", "last4", "invoice_number", "invoice_url"}
    ),
    RENEWAL_FAILED: frozenset(
        {"plan", "amount", "currency", "action", "need", "code", "retry_on", "grace_ends"}
    ),
    CANCELLED: frozenset({"plan", "ends_on", "refund", "currency"}),
    ENDED: frozenset({"plan", "reason", "end_date"}),
    CHANGED: frozenset(
        {
            "plan",
            "kind",
            "amount",
            "currency",
            "period_end",
            "billing_cycle",
            "invoice_number",
            "invoice_url",
        }
    ),
}
# The messages whose e-mail carries the charge's invoice (sent by the InvoiceDeliveryWorkflow,
# which fills invoice_number and invoice_url).
WITH_INVOICE = frozenset({ACTIVATED, RENEWED, CHANGED})

# What an "ask" decline needs from the subscriber (RENEWAL_FAILED's `need`).
NEED_AUTHENTICATION = "authenticate"
NEED_NEW_CARD = "expired"
NEED_METHOD = "no_method"
NEED_CARD_DETAILS = "card"
_AUTHENTICATION = frozenset({"authentication_required", "payment_intent_authentication_failure"})
_EXPIRED = frozenset({"expired_card", "card_expired", "new_account_information_available"})


def ask_need(code: str | None) -> str:
    """What the subscriber must do about a decline that asks them to act."""
    normalized = (code or "").strip().lower()
    if normalized in _AUTHENTICATION:
        return NEED_AUTHENTICATION
    if normalized in _EXPIRED:
        return NEED_NEW_CARD
    if normalized == "payment_method_missing":
        return NEED_METHOD
    return NEED_CARD_DETAILS


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _checked(template: str, context: dict[str, str]) -> tuple[str, dict[str, str]]:
    assert set(context) == KEYS[template], f"{template}: {sorted(context)}"
    return template, context


def activated(
    plan: str, amount: Decimal, currency: str, period_end: date
) -> tuple[str, dict[str, str]]:
    return _checked(
        ACTIVATED,
        {
            "plan": plan,
            "amount": _amount(amount),
            "currency": currency,
            "period_end": _day(period_end),
            "invoice_number": "",
            "invoice_url": "",
        },
    )


def reminder(
    plan: str, amount: Decimal, currency: str, renews_on: date, last4: str | None
) -> tuple[str, dict[str, str]]:
    return _checked(
        REMINDER,
        {
            "plan": plan,
            "amount": _amount(amount),
            "currency": currency,
            "renews_on": _day(renews_on),
            "last4": last4 or "",
        },
    )


def renewed(
    plan: str, amount: Decimal, currency: str, period_end: date, last4: str | None
) -> tuple[str, dict[str, str]]:
    return _checked(
        RENEWED,
        {
            "plan": plan,
            "amount": _amount(amount),
            "currency": currency,
            "period_end": _day(period_end),
            "last4": last4 or "",
            "invoice_number": "",
            "invoice_url": "",
        },
    )


def renewal_failed(
    plan: str,
    amount: Decimal,
    currency: str,
    action: DeclineAction,
    code: str | None,
    retry_on: date | None,
    grace_ends: date,
) -> tuple[str, dict[str, str]]:
    return _checked(
        RENEWAL_FAILED,
        {
            "plan": plan,
            "amount": _amount(amount),
            "currency": currency,
            "action": action.value,
            "need": ask_need(code) if action == DeclineAction.ASK else "",
            "code": code or "",
            "retry_on": _day(retry_on),
            "grace_ends": _day(grace_ends),
        },
    )


def cancelled(
    plan: str, ends_on: date | None, refund: Decimal | None, currency: str
) -> tuple[str, dict[str, str]]:
    """ends_on None: it ended now (refund: what goes back, None or 0 when nothing)."""
    return _checked(
        CANCELLED,
        {
            "plan": plan,
            "ends_on": _day(ends_on),
            "refund": _amount(refund) if refund else "",
            "currency": currency,
        },
    )


def ended(plan: str, reason: str, end_date: date) -> tuple[str, dict[str, str]]:
    """reason: "ended" (renewal was turned off), "expired" (unpaid past the grace) or
    "not_started" (the first payment never came)."""
    assert reason in ("ended", "expired", "not_started"), reason
    return _checked(ENDED, {"plan": plan, "reason": reason, "end_date": _day(end_date)})


def changed(
    plan: str,
    kind: str,
    amount: Decimal,
    currency: str,
    period_end: date,
    billing_cycle: str,
) -> tuple[str, dict[str, str]]:
    """kind "upgraded": the plan applies now, `amount` charged for the rest of the period that
    ends on period_end; "scheduled": from period_end the plan is `plan` at `amount` a cycle."""
    assert kind in ("upgraded", "scheduled"), kind
    return _checked(
        CHANGED,
        {
            "plan": plan,
            "kind": kind,
            "amount": _amount(amount),
            "currency": currency,
            "period_end": _day(period_end),
            "billing_cycle": billing_cycle,
            "invoice_number": "",
            "invoice_url": "",
        },
    )
