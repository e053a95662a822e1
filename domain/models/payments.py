"""Money: payments and their status history, invoices, coupons, and received gateway webhooks.

Payments and invoices are financial records: nothing deletes them by cascade, and their patient,
booking or appointment cannot be deleted while they exist (RESTRICT)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args
from domain.payment import DiscountType, InvoiceStatus, PaymentGateway, PaymentStatus


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        one_of("status", [s.value for s in PaymentStatus], nullable=False),
        one_of("payment_gateway", [g.value for g in PaymentGateway], nullable=False),
        CheckConstraint(
            "booking_id IS NOT NULL OR appointment_id IS NOT NULL OR subscription_id IS NOT NULL",
            name="pays_for_something",
        ),
        CheckConstraint(
            "patient_id IS NOT NULL OR subscription_id IS NOT NULL",
            name="patient_or_subscription",
        ),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("discount_amount >= 0", name="discount_amount_non_negative"),
        CheckConstraint(
            "refund_amount IS NULL OR (refund_amount >= 0 AND refund_amount <= amount)",
            name="refund_amount_within_amount",
        ),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        Index(None, "created_at"),
        # The analytics roll-up reads money by the day it arrived and the day it was refunded.
        Index(None, "payment_date"),
        Index(None, "refund_date"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    transaction_id: Mapped[str] = mapped_column(String(100), unique=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="RESTRICT"), index=True
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), index=True
    )
    # None only for a subscription's (a hospital or a doctor pays, not a patient).
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    # What the patient is charged, after discount_amount has been taken off.
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str | None] = mapped_column(String(50))
    payment_gateway: Mapped[str] = mapped_column(String(50))
    gateway_transaction_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # Razorpay's order id / Stripe's PaymentIntent id: how a webhook finds its payment.
    gateway_order_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    gateway_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Sent to the gateway so a retried create never charges twice (e.g. "payment:<id>:intent").
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Coupons are deactivated, not deleted, once redeemed.
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("coupons.id", ondelete="RESTRICT"), index=True
    )
    discount_amount: Mapped[Decimal] = mapped_column(server_default=text("0"))
    status: Mapped[str] = mapped_column(
        String(50), server_default=PaymentStatus.PENDING.value, index=True
    )
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    payment_date: Mapped[datetime | None]
    refund_amount: Mapped[Decimal | None]
    refund_date: Mapped[datetime | None]
    # "metadata" is reserved on declarative classes, so the attribute is named apart.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class PaymentStatusHistory(StatusHistory, Base):
    __tablename__ = "payment_status_history"
    __table_args__ = history_table_args("payment_id", [s.value for s in PaymentStatus])

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))


class PaymentRefund(Base):
    """One refund of a payment, on the instant it was made: a payment's refund_amount is the
    running total and its refund_date the last one's, so several partial refunds need a row each
    (the analytics roll-up subtracts each on its own day). `seq` is the payment's status history
    row that recorded it, so a retried write is a no-op."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        UniqueConstraint("payment_id", "seq"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(None, "refunded_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    seq: Mapped[int]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    refunded_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        one_of("status", [s.value for s in InvoiceStatus], nullable=False),
        CheckConstraint("total_amount >= 0", name="total_amount_non_negative"),
        CheckConstraint("tax_amount >= 0", name="tax_amount_non_negative"),
        CheckConstraint("discount_amount >= 0", name="discount_amount_non_negative"),
        CheckConstraint("final_amount >= 0", name="final_amount_non_negative"),
        CheckConstraint("tax_rate BETWEEN 0 AND 100", name="tax_rate_range"),
        CheckConstraint("due_date IS NULL OR due_date >= invoice_date", name="due_after_issue"),
        CheckConstraint(
            "patient_id IS NOT NULL OR subscription_id IS NOT NULL",
            name="patient_or_subscription",
        ),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    invoice_number: Mapped[str] = mapped_column(String(50), unique=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="RESTRICT"), index=True
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), index=True
    )
    # None only for a subscription's (a hospital or a doctor pays, not a patient).
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="RESTRICT"), index=True
    )
    total_amount: Mapped[Decimal]
    # Percent, e.g. 18.00 for 18 % GST; tax_amount is what it came to.
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    tax_amount: Mapped[Decimal] = mapped_column(server_default=text("0"))
    discount_amount: Mapped[Decimal] = mapped_column(server_default=text("0"))
    final_amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    line_items: Mapped[list[Any] | None]
    invoice_date: Mapped[date | None]
    due_date: Mapped[date | None]
    pdf_url: Mapped[str | None] = mapped_column(Text)
    # Where the rendered PDF sits in storage; pdf_url is derived from it (and may expire).
    pdf_storage_key: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(50), server_default=InvoiceStatus.DRAFT.value, index=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        one_of("discount_type", [t.value for t in DiscountType], nullable=False),
        CheckConstraint("discount_value > 0", name="discount_value_positive"),
        CheckConstraint(
            "discount_type <> 'percentage' OR discount_value <= 100", name="percentage_at_most_100"
        ),
        CheckConstraint("min_purchase_amount >= 0", name="min_purchase_amount_non_negative"),
        CheckConstraint("max_discount_amount >= 0", name="max_discount_amount_non_negative"),
        CheckConstraint("valid_until >= valid_from", name="validity_ordered"),
        # Redeeming is `usage_count = usage_count + 1`: this makes the limit hold under races.
        CheckConstraint(
            "usage_count >= 0 AND (usage_limit IS NULL OR usage_count <= usage_limit)",
            name="usage_within_limit",
        ),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(50), unique=True)
    discount_type: Mapped[str] = mapped_column(String(50))
    discount_value: Mapped[Decimal]
    min_purchase_amount: Mapped[Decimal | None]
    max_discount_amount: Mapped[Decimal | None]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    usage_limit: Mapped[int | None]
    usage_count: Mapped[int] = mapped_column(server_default=text("0"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WebhookEvent(Base):
    """Every gateway event received, once: a redelivered event hits the unique key."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        one_of("gateway", [g.value for g in PaymentGateway], nullable=False),
        UniqueConstraint("gateway", "event_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    gateway: Mapped[str] = mapped_column(String(50))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    signature_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
