"""The booking lifecycle: from a patient's request through treatment to feedback.

TRANSITIONS is the whole lifecycle as data: from which status to which, who may ask for it and
which guards must hold. The booking workflow's update validators check it (so an illegal move is
refused before anything is written), the API reports the allowed next statuses from it, and the
property tests in tests/domain/test_booking_transitions.py hold it to its promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain import access
from domain.access import HOSPITAL_SIDE, PATIENT_OR_STAFF, STAFF, Role

# Re-exported: the booking's callers take the lifecycle's words from here.
from domain.lifecycle import PLATFORM, Transition, TransitionTable, moves
from domain.lifecycle import SYSTEM as SYSTEM
from domain.lifecycle import Actor as Actor
from domain.lifecycle import MoveRefused as MoveRefused


class BookingStatus(StrEnum):
    REQUESTED = "requested"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    AWAITING_MEDICAL_DETAILS = "awaiting_medical_details"
    QUOTATION_SENT = "quotation_sent"
    CONFIRMED = "confirmed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_COMPLETED = "payment_completed"
    INVOICE_SENT = "invoice_sent"
    TRAVEL_ARRANGEMENT = "travel_arrangement"
    IN_TREATMENT = "in_treatment"
    COMPLETED = "completed"
    FEEDBACK_RECEIVED = "feedback_received"


class BookingPaymentStatus(StrEnum):
    """The money side of a booking, kept on the booking row for lists and filters."""

    UNPAID = "unpaid"
    PENDING = "pending"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class BookingType(StrEnum):
    TREATMENT = "treatment"
    PACKAGE = "package"


S = BookingStatus
TERMINAL: frozenset[BookingStatus] = frozenset({S.REJECTED, S.CANCELLED, S.FEEDBACK_RECEIVED})
# Where the booking waits for the platform's review; the review SLA timer runs here.
IN_REVIEW: frozenset[BookingStatus] = frozenset({S.REQUESTED, S.UNDER_REVIEW})
# Money has been taken: a cancellation from here records a refund request on the booking.
PAID: frozenset[BookingStatus] = frozenset(
    {S.PAYMENT_COMPLETED, S.INVOICE_SENT, S.TRAVEL_ARRANGEMENT}
)

# The cancellation policy: the percent of what was paid that a cancellation gives back, by the
# status the booking was cancelled in (MEDIVOY_CANCELLATION_REFUND_PERCENT overrides it). Full
# before the trip is arranged, half once it is, nothing once treatment has begun. A status not
# named gives nothing back. A booking cancelled while its payment is still open always gets
# everything back: nothing was delivered for it (see cancellation_refund_percent).
DEFAULT_CANCELLATION_REFUND_PERCENT: dict[str, Decimal] = {
    S.PAYMENT_COMPLETED.value: Decimal(100),
    S.INVOICE_SENT.value: Decimal(100),
    S.TRAVEL_ARRANGEMENT.value: Decimal(50),
    S.IN_TREATMENT.value: Decimal(0),
}


def check_refund_policy(policy: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The policy with its statuses and percents checked (ValueError names the bad entry)."""
    checked: dict[str, Decimal] = {}
    for status, percent in policy.items():
        try:
            BookingStatus(status)
        except ValueError:
            raise ValueError(f"{status!r} is not a booking status") from None
        value = Decimal(percent)
        if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
            raise ValueError(f"the refund for {status} must be a percent from 0 to 100")
        checked[status] = value
    return checked


def cancellation_refund_percent(
    status: BookingStatus, policy: Mapping[str, Decimal] | None = None
) -> Decimal:
    """The percent of the payment a cancellation in this status gives back."""
    if status == S.PAYMENT_PENDING:
        return Decimal(100)
    rules = DEFAULT_CANCELLATION_REFUND_PERCENT if policy is None else policy
    return Decimal(rules.get(status.value, Decimal(0)))


# The people a booking belongs to, and whether someone is one of them: domain/access.py.
Parties = access.BookingParties


@dataclass(frozen=True)
class MoveContext:
    """What the guards look at besides the status: the command's payload and the clock."""

    now: datetime
    # The command carries a quotation (POST /bookings/:id/quotation), not just a status.
    quotation_in_command: bool = False
    # The quotation in force: the one in the command, else the last one sent.
    quotation_valid_until: datetime | None = None


# A guard returns None when the move may go ahead, else a stable error code.
Guard = Callable[[MoveContext], str | None]


def requires_quotation(ctx: MoveContext) -> str | None:
    """quotation_sent is reached by sending one (POST /quotation), never by a bare status."""
    return None if ctx.quotation_in_command else "QUOTATION_REQUIRED"


def quotation_still_valid(ctx: MoveContext) -> str | None:
    valid_until = ctx.quotation_valid_until
    if valid_until is None:
        return "QUOTATION_REQUIRED"
    return None if ctx.now < valid_until else "QUOTATION_EXPIRED"


GUARD_MESSAGES: dict[str, str] = {
    "QUOTATION_REQUIRED": "Send a quotation (POST /bookings/{id}/quotation) to move it there",
    "QUOTATION_EXPIRED": "The quotation has expired; send a new one first",
}


# Role sets are defined once, in domain/access.py (HOSPITAL_SIDE, PATIENT_OR_STAFF, STAFF): StrEnum
# members compare and hash equal to their values, so a role string from a token matches them.
_moves = moves


TRANSITIONS: tuple[Transition[BookingStatus], ...] = (
    *_moves(S.REQUESTED, [S.UNDER_REVIEW, S.REJECTED], HOSPITAL_SIDE),
    *_moves(S.REQUESTED, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(
        S.UNDER_REVIEW,
        [S.ACCEPTED, S.REJECTED, S.AWAITING_MEDICAL_DETAILS, S.ON_HOLD],
        HOSPITAL_SIDE,
    ),
    *_moves(S.UNDER_REVIEW, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.ACCEPTED, [S.AWAITING_MEDICAL_DETAILS, S.ON_HOLD], HOSPITAL_SIDE),
    *_moves(S.ACCEPTED, [S.QUOTATION_SENT], HOSPITAL_SIDE, requires_quotation),
    *_moves(S.ACCEPTED, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(
        S.AWAITING_MEDICAL_DETAILS,
        [S.UNDER_REVIEW, S.ACCEPTED, S.REJECTED, S.ON_HOLD],
        HOSPITAL_SIDE,
    ),
    *_moves(S.AWAITING_MEDICAL_DETAILS, [S.QUOTATION_SENT], HOSPITAL_SIDE, requires_quotation),
    *_moves(S.AWAITING_MEDICAL_DETAILS, [S.CANCELLED], PATIENT_OR_STAFF),
    # A revised quotation replaces the one in force and restarts its clock.
    *_moves(S.QUOTATION_SENT, [S.QUOTATION_SENT], HOSPITAL_SIDE, requires_quotation),
    *_moves(S.QUOTATION_SENT, [S.CONFIRMED], PATIENT_OR_STAFF, quotation_still_valid),
    *_moves(S.QUOTATION_SENT, [S.ON_HOLD], STAFF | PLATFORM),
    *_moves(S.QUOTATION_SENT, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.ON_HOLD, [S.UNDER_REVIEW], HOSPITAL_SIDE),
    *_moves(S.ON_HOLD, [S.QUOTATION_SENT], HOSPITAL_SIDE, requires_quotation),
    *_moves(S.ON_HOLD, [S.CONFIRMED], PATIENT_OR_STAFF, quotation_still_valid),
    *_moves(S.ON_HOLD, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.CONFIRMED, [S.ON_HOLD], STAFF),
    *_moves(S.CONFIRMED, [S.CANCELLED], PATIENT_OR_STAFF),
    # The payment workflow drives the money: started, succeeded (possibly in one step), failed.
    *_moves(S.CONFIRMED, [S.PAYMENT_PENDING, S.PAYMENT_COMPLETED], PLATFORM),
    *_moves(S.PAYMENT_PENDING, [S.PAYMENT_COMPLETED, S.CONFIRMED], PLATFORM),
    *_moves(S.PAYMENT_PENDING, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.PAYMENT_COMPLETED, [S.INVOICE_SENT], PLATFORM),
    *_moves(S.PAYMENT_COMPLETED, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.INVOICE_SENT, [S.TRAVEL_ARRANGEMENT], HOSPITAL_SIDE),
    *_moves(S.INVOICE_SENT, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.TRAVEL_ARRANGEMENT, [S.IN_TREATMENT], HOSPITAL_SIDE),
    *_moves(S.TRAVEL_ARRANGEMENT, [S.CANCELLED], PATIENT_OR_STAFF),
    *_moves(S.IN_TREATMENT, [S.COMPLETED], HOSPITAL_SIDE),
    # Written by the review the patient leaves, never by a status change.
    *_moves(S.COMPLETED, [S.FEEDBACK_RECEIVED], PLATFORM),
)


def involved(actor: Actor, parties: Parties) -> bool:
    """access.involved for this actor (the platform included)."""
    person = access.Person(role=actor.role, user_id=actor.user_id, system=actor.is_system)
    return access.involved(person, parties)


BOOKING: TransitionTable[BookingStatus] = TransitionTable(
    "booking",
    BookingStatus,
    S.REQUESTED,
    TERMINAL,
    TRANSITIONS,
    involved=involved,
    not_involved=("NOT_YOUR_BOOKING", "You do not act on this booking"),
    guard_messages=GUARD_MESSAGES,
)
SYSTEM_ONLY_TARGETS: frozenset[BookingStatus] = BOOKING.system_only_targets


def transition(source: BookingStatus, target: BookingStatus) -> Transition[BookingStatus] | None:
    return BOOKING.transition(source, target)


def next_statuses(source: BookingStatus, role: str | None = None) -> list[BookingStatus]:
    """Where a booking may go from here (for this role, when given), in lifecycle order."""
    return BOOKING.next_statuses(source, role)


def check_move(
    source: BookingStatus,
    target: BookingStatus,
    actor: Actor,
    parties: Parties,
    ctx: MoveContext,
) -> Transition[BookingStatus]:
    """The transition for this move, or MoveRefused saying why not (409 or 403)."""
    return BOOKING.check(source, target, actor, parties, ctx)


# PATCH /bookings/:id: which details may change in which status. The request is still the
# patient's to shape until a quotation is priced on it; travel plans change until the trip.
REQUEST_FIELDS: frozenset[str] = frozenset(
    {"requested_date", "medical_details", "notes", "booking_type", "travel_details"}
)
TRAVEL_FIELDS: frozenset[str] = frozenset({"travel_details", "notes"})
EDITABLE_FIELDS: dict[BookingStatus, frozenset[str]] = {
    S.REQUESTED: REQUEST_FIELDS,
    S.UNDER_REVIEW: REQUEST_FIELDS,
    S.ACCEPTED: REQUEST_FIELDS,
    S.AWAITING_MEDICAL_DETAILS: REQUEST_FIELDS,
    S.ON_HOLD: REQUEST_FIELDS,
    S.CONFIRMED: TRAVEL_FIELDS,
    S.PAYMENT_PENDING: TRAVEL_FIELDS,
    S.PAYMENT_COMPLETED: TRAVEL_FIELDS,
    S.INVOICE_SENT: TRAVEL_FIELDS,
    S.TRAVEL_ARRANGEMENT: TRAVEL_FIELDS,
}
EDITORS: frozenset[Role] = PATIENT_OR_STAFF
# Who may (re)assign the coordinator: admins anyone; a coordinator takes an unassigned booking
# or hands over their own.
ASSIGNERS: frozenset[Role] = STAFF


def check_edit(
    status: BookingStatus, fields: Iterable[str], actor: Actor, parties: Parties
) -> None:
    if actor.role not in EDITORS:
        raise MoveRefused("Forbidden", "ROLE_NOT_ALLOWED", "Your role may not change a booking")
    if not involved(actor, parties):
        raise MoveRefused("Forbidden", "NOT_YOUR_BOOKING", "You do not act on this booking")
    editable = EDITABLE_FIELDS.get(status, frozenset())
    locked = sorted(set(fields) - editable)
    if locked:
        raise MoveRefused(
            "Conflict",
            "BOOKING_NOT_EDITABLE",
            f"In status {status.value} these details can no longer change: {', '.join(locked)}",
        )


def check_assignment(status: BookingStatus, actor: Actor, parties: Parties) -> None:
    if actor.role not in ASSIGNERS:
        raise MoveRefused(
            "Forbidden", "ROLE_NOT_ALLOWED", "Only admins and coordinators assign coordinators"
        )
    if not involved(actor, parties):
        raise MoveRefused("Forbidden", "NOT_YOUR_BOOKING", "Another coordinator has this booking")
    if status in TERMINAL:
        raise MoveRefused(
            "Conflict", "BOOKING_CLOSED", f"The booking is {status.value}: nothing left to assign"
        )
