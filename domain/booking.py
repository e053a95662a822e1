"""The booking lifecycle: from a patient's request through treatment to feedback."""

from __future__ import annotations

from enum import StrEnum


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
