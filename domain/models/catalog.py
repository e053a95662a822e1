"""What patients choose from: hospitals, doctors, treatments and their prices, packages, labs,
insurers. Catalog rows are deactivated (is_active), not deleted, once anything refers to them."""

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

from domain.models.base import Base, created_at_column, updated_at_column, uuid_pk


class Hospital(Base):
    __tablename__ = "hospitals"
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),
        CheckConstraint("total_reviews >= 0", name="total_reviews_non_negative"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    logo: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(100), index=True)
    city: Mapped[str | None] = mapped_column(String(100), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(10, 8))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(11, 8))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(Text)
    certifications: Mapped[list[Any] | None]
    specializations: Mapped[list[Any] | None]
    is_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    # The hospital outlives its admin's account.
    admin_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    bank_details: Mapped[dict[str, Any] | None]
    # Kept by the reviews service from published reviews (migration 0003).
    rating: Mapped[Decimal] = mapped_column(Numeric(3, 2), server_default=text("0"))
    total_reviews: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Doctor(Base):
    """A doctor's professional profile; one per user of type doctor."""

    __tablename__ = "doctors"
    __table_args__ = (
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),
        CheckConstraint("total_reviews >= 0", name="total_reviews_non_negative"),
        CheckConstraint("experience_years >= 0", name="experience_years_non_negative"),
        CheckConstraint("consultation_fee >= 0", name="consultation_fee_non_negative"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 480", name="slot_minutes_range"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 240", name="buffer_minutes_range"),
        CheckConstraint("minimum_notice_hours >= 0", name="minimum_notice_hours_non_negative"),
        CheckConstraint("max_per_day IS NULL OR max_per_day > 0", name="max_per_day_positive"),
        CheckConstraint("change_notice_hours >= 0", name="change_notice_hours_non_negative"),
        CheckConstraint("max_reschedules >= 0", name="max_reschedules_non_negative"),
        Index(None, "created_at"),
        Index(None, "specialty"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    specialty: Mapped[str | None] = mapped_column(String(100))
    qualification: Mapped[str | None] = mapped_column(Text)
    experience_years: Mapped[int | None]
    license_number: Mapped[str | None] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(Text)
    consultation_fee: Mapped[Decimal | None]
    languages: Mapped[list[Any] | None]
    # Availability (domain/availability.py): weekly hours in the doctor's IANA zone, the rules of
    # the grid and of booking.
    timezone: Mapped[str | None] = mapped_column(String(64))
    weekly_hours: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    dates_off: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    slot_minutes: Mapped[int] = mapped_column(server_default=text("30"))
    buffer_minutes: Mapped[int] = mapped_column(server_default=text("0"))
    minimum_notice_hours: Mapped[int] = mapped_column(server_default=text("12"))
    max_per_day: Mapped[int | None]
    # Patients may reschedule or cancel only up to this long before the start.
    change_notice_hours: Mapped[int] = mapped_column(server_default=text("24"))
    max_reschedules: Mapped[int] = mapped_column(server_default=text("2"))
    requires_prepayment: Mapped[bool] = mapped_column(server_default=text("true"))
    is_available_teleconsult: Mapped[bool] = mapped_column(server_default=text("true"))
    rating: Mapped[Decimal] = mapped_column(Numeric(3, 2), server_default=text("0"))
    total_reviews: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class HospitalDoctor(Base):
    __tablename__ = "hospital_doctors"
    __table_args__ = (
        UniqueConstraint("hospital_id", "doctor_id"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index(None, "doctor_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    hospital_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hospitals.id", ondelete="CASCADE"))
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    department: Mapped[str | None] = mapped_column(String(100))
    is_primary: Mapped[bool] = mapped_column(server_default=text("false"))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    created_at: Mapped[datetime] = created_at_column()


class Treatment(Base):
    __tablename__ = "treatments"
    __table_args__ = (
        CheckConstraint("duration_days >= 0", name="duration_days_non_negative"),
        Index(None, "category"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    # How to prepare and what to do after (clinical text: translated only with approval).
    preparation: Mapped[str | None] = mapped_column(Text)
    aftercare: Mapped[str | None] = mapped_column(Text)
    duration_days: Mapped[int | None]
    is_global: Mapped[bool] = mapped_column(server_default=text("true"))
    image: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class HospitalTreatment(Base):
    """A treatment as one hospital offers it, at its price."""

    __tablename__ = "hospital_treatments"
    __table_args__ = (
        UniqueConstraint("hospital_id", "treatment_id"),
        CheckConstraint("base_price >= 0", name="base_price_non_negative"),
        CheckConstraint("success_rate BETWEEN 0 AND 100", name="success_rate_range"),
        CheckConstraint("duration_days >= 0", name="duration_days_non_negative"),
        Index(None, "treatment_id"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    hospital_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hospitals.id", ondelete="CASCADE"))
    treatment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    base_price: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    duration_days: Mapped[int | None]
    success_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    description: Mapped[str | None] = mapped_column(Text)
    inclusions: Mapped[list[Any] | None]
    exclusions: Mapped[list[Any] | None]
    is_available: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Package(Base):
    """A bundle (treatment, stay, travel) sold at one price in one country."""

    __tablename__ = "packages"
    __table_args__ = (
        CheckConstraint("base_price >= 0", name="base_price_non_negative"),
        CheckConstraint("duration_days >= 0", name="duration_days_non_negative"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(100), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    duration_days: Mapped[int | None]
    base_price: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    inclusions: Mapped[list[Any] | None]
    hospital_ids: Mapped[list[Any] | None]
    treatment_ids: Mapped[list[Any] | None]
    flights_included: Mapped[bool] = mapped_column(server_default=text("false"))
    accommodation_included: Mapped[bool] = mapped_column(server_default=text("false"))
    transfers_included: Mapped[bool] = mapped_column(server_default=text("false"))
    seasonal_pricing: Mapped[dict[str, Any] | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Laboratory(Base):
    __tablename__ = "laboratories"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    # A lab can outlive its hospital's listing and keep working on its own.
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(255))
    services_offered: Mapped[list[Any] | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Insurance(Base):
    """An insurance provider patients can name; the policy itself sits on the patient."""

    __tablename__ = "insurance"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    provider_name: Mapped[str] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(100))
    logo: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    contact_email: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(Text)
    coverage_details: Mapped[dict[str, Any] | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
