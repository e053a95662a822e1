"""Bookings (a patient's treatment request through to feedback) and their status history.

Bookings are the platform's record of business: nothing deletes one by cascade. A patient, hospital,
treatment or package with bookings cannot be deleted (RESTRICT); deactivate it instead."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.booking import IN_REVIEW, TERMINAL, BookingPaymentStatus, BookingStatus, BookingType
from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args

# The dashboards' queues (api/routers/dashboard.py) read partial indexes whose predicates name
# these statuses (migration 0020): bookings no longer open, and those waiting for review. A
# query names the same ones, as literals, so that PostgreSQL sees it may use the index.
CLOSED_STATUSES: tuple[str, ...] = tuple(
    sorted(s.value for s in TERMINAL | {BookingStatus.COMPLETED})
)
REVIEW_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in IN_REVIEW))
OPEN_PREDICATE = "status NOT IN (" + ", ".join(f"'{s}'" for s in CLOSED_STATUSES) + ")"
REVIEW_PREDICATE = "status IN (" + ", ".join(f"'{s}'" for s in REVIEW_STATUSES) + ")"


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        one_of("status", [s.value for s in BookingStatus], nullable=False),
        one_of("payment_status", [s.value for s in BookingPaymentStatus], nullable=False),
        one_of("booking_type", [t.value for t in BookingType]),
        CheckConstraint("total_amount >= 0", name="total_amount_non_negative"),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        # Lists read newest first (created_at, id), scoped or filtered by patient, hospital or
        # status: each has an index in that order, so a page is an index range and its total an
        # index-only count (bench/README.md). They also serve the foreign keys' lookups.
        Index("ix_bookings_created_at_id", "created_at", "id"),
        Index("ix_bookings_patient_id_created_at", "patient_id", "created_at", "id"),
        Index("ix_bookings_hospital_id_created_at", "hospital_id", "created_at", "id"),
        Index("ix_bookings_status_created_at", "status", "created_at", "id"),
        # The admin's review queue (oldest first, and its count), the open bookings by status
        # (an index-only count), a hospital's upcoming arrivals and open bookings by status.
        Index("ix_bookings_review_queue", "created_at", postgresql_where=text(REVIEW_PREDICATE)),
        Index("ix_bookings_open_status", "status", postgresql_where=text(OPEN_PREDICATE)),
        Index(
            "ix_bookings_open_hospital_arrival",
            "hospital_id",
            "confirmed_date",
            "booking_number",
            postgresql_include=["status"],
            postgresql_where=text(OPEN_PREDICATE),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    booking_number: Mapped[str] = mapped_column(String(50), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="RESTRICT")
    )
    treatment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("treatments.id", ondelete="RESTRICT"), index=True
    )
    package_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("packages.id", ondelete="RESTRICT"), index=True
    )
    booking_type: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50), server_default=BookingStatus.REQUESTED.value)
    # The seq of the last status_history row: the workflow writes seq + 1 next.
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    requested_date: Mapped[date | None]
    confirmed_date: Mapped[date | None]
    completion_date: Mapped[date | None]
    total_amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(
        String(50), server_default=BookingPaymentStatus.UNPAID.value, index=True
    )
    medical_details: Mapped[dict[str, Any] | None]
    quotation_details: Mapped[dict[str, Any] | None]
    travel_details: Mapped[dict[str, Any] | None]
    # Who asked for a refund, when, how much and why; the payment carries the refund itself.
    refund_requested: Mapped[dict[str, Any] | None]
    notes: Mapped[str | None] = mapped_column(Text)
    coordinator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class BookingStatusHistory(StatusHistory, Base):
    __tablename__ = "booking_status_history"
    __table_args__ = history_table_args("booking_id", [s.value for s in BookingStatus])

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
