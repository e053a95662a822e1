"""The payment lifecycle, the gateways that carry it, invoices and coupons."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

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
