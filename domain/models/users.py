"""Users, patients and the tokens that prove who someone is."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.access import Role
from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        one_of("user_type", [r.value for r in Role], nullable=False),
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_user_type", "user_type"),
        # The admin's accounts waiting for approval (api/routers/dashboard.py).
        Index(
            "ix_users_awaiting_approval",
            "user_type",
            postgresql_where=text("is_approved IS false AND is_active IS true"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Stored lower-cased (the API normalizes), so unique means unique whatever the case.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    user_type: Mapped[str] = mapped_column(String(50))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    profile_picture: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(10), server_default="en")
    # IANA zone for reminders and schedules; MEDIVOY_DEFAULT_TIMEZONE when null.
    timezone: Mapped[str | None] = mapped_column(String(64))
    is_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    is_approved: Mapped[bool] = mapped_column(server_default=text("true"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    last_login: Mapped[datetime | None]
    # Carried by every access token; bumped to end them all at once (logout, a revoked refresh
    # family, a password reset).
    token_version: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # An e-mail change waiting for its verification link (then it replaces `email`).
    pending_email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_created_at", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    date_of_birth: Mapped[date | None]
    gender: Mapped[str | None] = mapped_column(String(20))
    blood_group: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    emergency_contact_name: Mapped[str | None] = mapped_column(String(100))
    emergency_contact_phone: Mapped[str | None] = mapped_column(String(20))
    insurance_provider: Mapped[str | None] = mapped_column(String(255))
    insurance_policy_number: Mapped[str | None] = mapped_column(String(100))
    medical_history: Mapped[dict[str, Any] | None]
    allergies: Mapped[list[Any] | None]
    current_medications: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class RefreshToken(Base):
    """Stored hashed. Rotation keeps a family: reusing a rotated token revokes the family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    family_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime]
    is_revoked: Mapped[bool] = mapped_column(server_default=text("false"))
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class PasswordReset(Base):
    """Single-use, expiring password reset tokens, stored hashed."""

    __tablename__ = "password_resets"
    __table_args__ = (
        Index("ix_password_resets_user_id", "user_id"),
        Index("ix_password_resets_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime]
    is_used: Mapped[bool] = mapped_column(server_default=text("false"))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class EmailVerification(Base):
    """Single-use, expiring e-mail verification tokens, stored hashed."""

    __tablename__ = "email_verifications"
    __table_args__ = (
        Index("ix_email_verifications_user_id", "user_id"),
        Index("ix_email_verifications_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime]
    is_used: Mapped[bool] = mapped_column(server_default=text("false"))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
