"""What people read and write around the care: reviews, support tickets, translations, FAQs,
website pages and uploaded media."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.models.history import StatusHistory, history_table_args
from domain.translation import TranslationJobStatus, TranslationStatus
from domain.vocabulary import TicketPriority, TicketStatus


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
        CheckConstraint("doctor_id IS NOT NULL OR hospital_id IS NOT NULL", name="reviews_someone"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # A review stays (anonymous) when its author's patient record goes; it goes with its subject.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL"), index=True
    )
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("doctors.id", ondelete="CASCADE"), index=True
    )
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    booking_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    rating: Mapped[int]
    review_text: Mapped[str | None] = mapped_column(Text)
    is_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    is_published: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        one_of("priority", [p.value for p in TicketPriority], nullable=False),
        one_of("status", [s.value for s in TicketStatus], nullable=False),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_number: Mapped[str] = mapped_column(String(50), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(
        String(50), server_default=TicketPriority.MEDIUM.value, index=True
    )
    status: Mapped[str] = mapped_column(
        String(50), server_default=TicketStatus.OPEN.value, index=True
    )
    assigned_to_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    sla_due_date: Mapped[datetime | None]
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SupportTicketReply(Base):
    __tablename__ = "support_ticket_replies"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    # The conversation keeps a reply whose author's account is gone.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    message: Mapped[str] = mapped_column(Text)
    # Staff-only notes, never shown to the ticket's owner.
    is_internal: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = created_at_column()


class Translation(Base):
    """One field of one entity in one locale. Polymorphic (entity_type, entity_id): no FK.

    Its status moves only inside its TranslationWorkflow (domain/translation.py). translated_text
    is the working text (the machine's or a person's, what reviewers see); published_text is what
    the public reads (set on approval, or by the machine for general text where allowed; kept
    while stale). source_hash is the hash of the source text the row follows."""

    __tablename__ = "translations"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "field_name", "locale"),
        one_of("status", [s.value for s in TranslationStatus], nullable=False),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        Index(None, "locale"),
        Index(None, "status"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[uuid.UUID]
    field_name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(10))
    translated_text: Mapped[str | None] = mapped_column(Text)
    published_text: Mapped[str | None] = mapped_column(Text)
    is_auto_translated: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(String(50), server_default=TranslationStatus.PENDING.value)
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    source_hash: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str | None] = mapped_column(String(50))
    reviewed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TranslationStatusHistory(StatusHistory, Base):
    __tablename__ = "translation_status_history"
    __table_args__ = history_table_args("translation_id", [s.value for s in TranslationStatus])

    translation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("translations.id", ondelete="CASCADE")
    )


class TranslationCharge(Base):
    """Characters sent to an engine, once per (translation, source): the monthly budget is
    their sum for the engine and month."""

    __tablename__ = "translation_charges"
    __table_args__ = (
        UniqueConstraint("engine", "translation_id", "source_hash"),
        CheckConstraint("characters >= 0", name="characters_non_negative"),
        Index(None, "engine", "month"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    engine: Mapped[str] = mapped_column(String(50))
    translation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("translations.id", ondelete="CASCADE")
    )
    source_hash: Mapped[str] = mapped_column(String(64))
    # The first day of the month (UTC) the characters count against.
    month: Mapped[date]
    characters: Mapped[int]
    created_at: Mapped[datetime] = created_at_column()


class TranslationJob(Base):
    """A run of machine translation, driven by its workflow: one entity, or a sweep when
    entity_type and entity_id are empty."""

    __tablename__ = "translation_jobs"
    __table_args__ = (
        one_of("status", [s.value for s in TranslationJobStatus], nullable=False),
        CheckConstraint("status_seq >= 0", name="status_seq_non_negative"),
        Index(None, "entity_type", "entity_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    entity_type: Mapped[str | None] = mapped_column(String(100))
    entity_id: Mapped[uuid.UUID | None]
    # Field names to translate; empty means every translatable field.
    fields: Mapped[list[Any] | None]
    source_locale: Mapped[str] = mapped_column(String(10), server_default="en")
    target_locales: Mapped[list[Any]]
    engine: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(
        String(50), server_default=TranslationJobStatus.PENDING.value, index=True
    )
    status_seq: Mapped[int] = mapped_column(server_default=text("0"))
    translated_count: Mapped[int] = mapped_column(server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TranslationJobStatusHistory(StatusHistory, Base):
    __tablename__ = "translation_job_status_history"
    __table_args__ = history_table_args("job_id", [s.value for s in TranslationJobStatus])

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("translation_jobs.id", ondelete="CASCADE"))


class Faq(Base):
    __tablename__ = "faqs"
    __table_args__ = (Index(None, "category"), Index(None, "created_at"))

    id: Mapped[uuid.UUID] = uuid_pk()
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    display_order: Mapped[int] = mapped_column(server_default=text("0"))
    is_published: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WebsiteContent(Base):
    __tablename__ = "website_content"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    page_slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str | None] = mapped_column(Text)
    meta_description: Mapped[str | None] = mapped_column(Text)
    meta_keywords: Mapped[str | None] = mapped_column(Text)
    is_published: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Media(Base):
    """An uploaded file attached to any entity (polymorphic, no FK)."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint("file_size >= 0", name="file_size_non_negative"),
        Index(None, "entity_type", "entity_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_url: Mapped[str | None] = mapped_column(Text)
    file_type: Mapped[str | None] = mapped_column(String(50))
    file_size: Mapped[int | None]
    entity_type: Mapped[str | None] = mapped_column(String(100))
    entity_id: Mapped[uuid.UUID | None]
    uploaded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = created_at_column()
