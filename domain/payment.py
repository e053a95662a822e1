"""The payment lifecycle, the gateways that carry it, invoices and coupons.

PAYMENT is the lifecycle as data: the gateway's outcomes are the platform's moves (system-only),
and the one move a person asks for is a refund, by the roles in REFUNDERS. PaymentWorkflow moves
only through this table; what may be paid at all is PAYABLE_BOOKING / PAYABLE_APPOINTMENT.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from domain.access import REFUNDERS
from domain.appointment import AppointmentStatus
from domain.booking import BookingStatus
from domain.lifecycle import PLATFORM, Actor, MoveRefused, Transition, TransitionTable, moves
from domain.money import quantum


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


P = PaymentStatus
# Still waiting for the money: the workflow polls the gateway and takes its webhooks.
OPEN: frozenset[PaymentStatus] = frozenset({P.PENDING, P.PROCESSING})
# Ended without the money (a late payment on such an attempt is refunded in full).
CLOSED_UNPAID: frozenset[PaymentStatus] = frozenset({P.FAILED, P.EXPIRED, P.CANCELLED})
# Money held: refunds may be asked for.
REFUNDABLE: frozenset[PaymentStatus] = frozenset({P.COMPLETED, P.PARTIALLY_REFUNDED})
TERMINAL: frozenset[PaymentStatus] = CLOSED_UNPAID | {P.REFUNDED}
# Who may refund: the platform's staff (a cancellation's refund is the platform's move).

# A status written again records changes without moving (the gateway intent's id on a pending
# payment, a late payment refunded on a closed attempt, a further partial refund).
TRANSITIONS: tuple[Transition[PaymentStatus], ...] = (
    *moves(P.PENDING, [P.PENDING, P.PROCESSING], PLATFORM),
    *moves(P.PENDING, [P.COMPLETED, P.FAILED, P.EXPIRED, P.CANCELLED], PLATFORM),
    *moves(P.PROCESSING, [P.COMPLETED, P.FAILED, P.EXPIRED, P.CANCELLED], PLATFORM),
    *moves(P.COMPLETED, [P.PARTIALLY_REFUNDED, P.REFUNDED], REFUNDERS | PLATFORM),
    *moves(P.PARTIALLY_REFUNDED, [P.PARTIALLY_REFUNDED, P.REFUNDED], REFUNDERS | PLATFORM),
    *moves(P.FAILED, [P.FAILED], PLATFORM),
    *moves(P.EXPIRED, [P.EXPIRED], PLATFORM),
    *moves(P.CANCELLED, [P.CANCELLED], PLATFORM),
)
PAYMENT: TransitionTable[PaymentStatus] = TransitionTable(
    "payment", PaymentStatus, P.PENDING, TERMINAL, TRANSITIONS
)

# What may be paid: a booking once its quotation is confirmed, an appointment until it is held.
PAYABLE_BOOKING: frozenset[BookingStatus] = frozenset({BookingStatus.CONFIRMED})
PAYABLE_APPOINTMENT: frozenset[AppointmentStatus] = frozenset(
    {
        AppointmentStatus.REQUESTED,
        AppointmentStatus.BOOKED,
        AppointmentStatus.APPOINTMENT_CONFIRMED,
        AppointmentStatus.AWAITING_CONSULTATION,
    }
)


def check_refund(
    status: PaymentStatus | None,
    actor: Actor,
    asked: Decimal | None,
    amount: Decimal,
    refunded: Decimal,
    currency: str,
) -> Decimal:
    """The amount a person's refund command refunds (None asks for everything left), or
    MoveRefused saying why not."""
    if actor.role not in REFUNDERS:
        raise MoveRefused("Forbidden", "ROLE_NOT_ALLOWED", "Only admins and coordinators refund.")
    if status is None or status not in REFUNDABLE:
        shown = status.value if status is not None else "not created"
        raise MoveRefused(
            "Conflict",
            "PAYMENT_NOT_REFUNDABLE",
            f"Only a completed payment is refunded ({shown}).",
        )
    left = amount - refunded
    value = left if asked is None else asked
    if value <= 0:
        raise MoveRefused("Invalid", "INVALID_AMOUNT", "A refund needs a positive amount.")
    if value > left:
        raise MoveRefused(
            "Conflict", "REFUND_EXCEEDS_PAYMENT", f"At most {left} {currency} is left to refund."
        )
    target = P.REFUNDED if value == left else P.PARTIALLY_REFUNDED
    PAYMENT.check(status, target, actor)
    return value


class PaymentGateway(StrEnum):
    STRIPE = "stripe"
    RAZORPAY = "razorpay"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    SENT = "sent"
    PAID = "paid"
    CANCELLED = "cancelled"


class DiscountType(StrEnum):
    PERCENTAGE = "percentage"
    FIXED = "fixed"


def cancellation_refund(
    paid: Decimal, refunded: Decimal, percent: Decimal, currency: str
) -> Decimal:
    """What a cancellation refunds now: `percent` of what was paid, less what was already
    refunded (that counts towards it), never more than is left and never below zero. Rounded
    down to the currency's smallest unit, so a refund never exceeds the policy."""
    if not Decimal(0) <= percent <= Decimal(100):
        raise ValueError("a refund percent is between 0 and 100")
    entitled = (paid * percent / Decimal(100)).quantize(quantum(currency), rounding=ROUND_DOWN)
    left = paid - refunded
    return max(Decimal(0), min(left, entitled - refunded))
