"""The initial schema: every table, constraint and index, and the updated_at trigger.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In creation order (referenced tables first); downgrade drops them in reverse.
TABLES = (
    "users",
    "patients",
    "refresh_tokens",
    "password_resets",
    "email_verifications",
    "notifications",
    "outbox_messages",
    "hospitals",
    "doctors",
    "hospital_doctors",
    "treatments",
    "hospital_treatments",
    "packages",
    "laboratories",
    "insurance",
    "bookings",
    "booking_status_history",
    "appointments",
    "appointment_status_history",
    "medical_records",
    "prescriptions",
    "lab_tests",
    "coupons",
    "payments",
    "payment_status_history",
    "invoices",
    "webhook_events",
    "subscription_plans",
    "subscriptions",
    "subscription_status_history",
    "reviews",
    "support_tickets",
    "support_ticket_replies",
    "translations",
    "translation_jobs",
    "translation_job_status_history",
    "faqs",
    "website_content",
    "media",
    "audit_logs",
)

# Every table with an updated_at column: a trigger keeps it current, even for raw SQL updates.
TABLES_WITH_UPDATED_AT = (
    "users",
    "patients",
    "notifications",
    "hospitals",
    "doctors",
    "treatments",
    "hospital_treatments",
    "packages",
    "laboratories",
    "insurance",
    "bookings",
    "appointments",
    "medical_records",
    "prescriptions",
    "lab_tests",
    "coupons",
    "payments",
    "invoices",
    "subscription_plans",
    "subscriptions",
    "reviews",
    "support_tickets",
    "translations",
    "translation_jobs",
    "faqs",
    "website_content",
)

SET_UPDATED_AT = """
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$
"""


def id_column() -> sa.Column:
    # gen_random_uuid() is built into PostgreSQL 13+: no extension needed.
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def created_at_column() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def updated_at_column() -> sa.Column:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "users",
        id_column(),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("user_type", sa.String(length=50), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("profile_picture", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=10), server_default="en", nullable=False),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_approved", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "user_type IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator')",
            name=op.f("ck_users_user_type_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("phone", name=op.f("uq_users_phone")),
    )
    op.create_index("ix_users_created_at", "users", ["created_at"], unique=False)
    op.create_index("ix_users_user_type", "users", ["user_type"], unique=False)

    op.create_table(
        "patients",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=20), nullable=True),
        sa.Column("blood_group", sa.String(length=10), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("emergency_contact_name", sa.String(length=100), nullable=True),
        sa.Column("emergency_contact_phone", sa.String(length=20), nullable=True),
        sa.Column("insurance_provider", sa.String(length=255), nullable=True),
        sa.Column("insurance_policy_number", sa.String(length=100), nullable=True),
        sa.Column("medical_history", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("allergies", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("current_medications", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_patients_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("user_id", name=op.f("uq_patients_user_id")),
    )
    op.create_index("ix_patients_created_at", "patients", ["created_at"], unique=False)

    op.create_table(
        "refresh_tokens",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("family_id", sa.UUID(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_revoked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_created_at", "refresh_tokens", ["created_at"], unique=False)
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], unique=False)
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"], unique=False)

    op.create_table(
        "password_resets",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_used", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index("ix_password_resets_created_at", "password_resets", ["created_at"], unique=False)
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"], unique=False)

    op.create_table(
        "email_verifications",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_used", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_verifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),
    )
    op.create_index("ix_email_verifications_created_at", "email_verifications", ["created_at"], unique=False)
    op.create_index("ix_email_verifications_user_id", "email_verifications", ["user_id"], unique=False)

    op.create_table(
        "notifications",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=True),
        sa.Column("reference_type", sa.String(length=50), nullable=True),
        sa.Column("reference_id", sa.UUID(), nullable=True),
        sa.Column("is_read", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_sent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'whatsapp', 'in_app')", name=op.f("ck_notifications_channel_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", "channel", name=op.f("uq_notifications_dedupe_key_channel")),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.create_index("ix_notifications_user_id", "notifications", ["user_id"], unique=False)
    op.create_index("ix_notifications_user_id_is_read", "notifications", ["user_id", "is_read"], unique=False)

    op.create_table(
        "outbox_messages",
        id_column(),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        created_at_column(),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'whatsapp')", name=op.f("ck_outbox_messages_channel_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", "channel", name=op.f("uq_outbox_messages_dedupe_key_channel")),
    )
    op.create_index("ix_outbox_messages_created_at", "outbox_messages", ["created_at"], unique=False)

    op.create_table(
        "hospitals",
        id_column(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("logo", sa.Text(), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=10, scale=8), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=11, scale=8), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("certifications", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("specializations", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("admin_user_id", sa.UUID(), nullable=True),
        sa.Column("bank_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_hospitals_latitude_range")),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name=op.f("ck_hospitals_longitude_range")),
        sa.ForeignKeyConstraint(
            ["admin_user_id"],
            ["users.id"],
            name=op.f("fk_hospitals_admin_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospitals")),
    )
    op.create_index(op.f("ix_hospitals_admin_user_id"), "hospitals", ["admin_user_id"], unique=False)
    op.create_index(op.f("ix_hospitals_city"), "hospitals", ["city"], unique=False)
    op.create_index(op.f("ix_hospitals_country"), "hospitals", ["country"], unique=False)
    op.create_index(op.f("ix_hospitals_created_at"), "hospitals", ["created_at"], unique=False)

    op.create_table(
        "doctors",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("specialty", sa.String(length=100), nullable=True),
        sa.Column("qualification", sa.Text(), nullable=True),
        sa.Column("experience_years", sa.Integer(), nullable=True),
        sa.Column("license_number", sa.String(length=100), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("consultation_fee", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("languages", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("availability_slots", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_available_teleconsult", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("rating", sa.Numeric(precision=3, scale=2), server_default=sa.text("0"), nullable=False),
        sa.Column("total_reviews", sa.Integer(), server_default=sa.text("0"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint("consultation_fee >= 0", name=op.f("ck_doctors_consultation_fee_non_negative")),
        sa.CheckConstraint("experience_years >= 0", name=op.f("ck_doctors_experience_years_non_negative")),
        sa.CheckConstraint("rating >= 0 AND rating <= 5", name=op.f("ck_doctors_rating_range")),
        sa.CheckConstraint("total_reviews >= 0", name=op.f("ck_doctors_total_reviews_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_doctors_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctors")),
        sa.UniqueConstraint("user_id", name=op.f("uq_doctors_user_id")),
    )
    op.create_index(op.f("ix_doctors_created_at"), "doctors", ["created_at"], unique=False)
    op.create_index(op.f("ix_doctors_specialty"), "doctors", ["specialty"], unique=False)

    op.create_table(
        "hospital_doctors",
        id_column(),
        sa.Column("hospital_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_hospital_doctors_dates_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name=op.f("fk_hospital_doctors_doctor_id_doctors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_hospital_doctors_hospital_id_hospitals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospital_doctors")),
        sa.UniqueConstraint(
            "hospital_id", "doctor_id", name=op.f("uq_hospital_doctors_hospital_id_doctor_id")
        ),
    )
    op.create_index(op.f("ix_hospital_doctors_created_at"), "hospital_doctors", ["created_at"], unique=False)
    op.create_index(op.f("ix_hospital_doctors_doctor_id"), "hospital_doctors", ["doctor_id"], unique=False)

    op.create_table(
        "treatments",
        id_column(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("is_global", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint("duration_days >= 0", name=op.f("ck_treatments_duration_days_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
    )
    op.create_index(op.f("ix_treatments_category"), "treatments", ["category"], unique=False)
    op.create_index(op.f("ix_treatments_created_at"), "treatments", ["created_at"], unique=False)

    op.create_table(
        "hospital_treatments",
        id_column(),
        sa.Column("hospital_id", sa.UUID(), nullable=False),
        sa.Column("treatment_id", sa.UUID(), nullable=False),
        sa.Column("base_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("success_rate", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("inclusions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("exclusions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_available", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint("base_price >= 0", name=op.f("ck_hospital_treatments_base_price_non_negative")),
        sa.CheckConstraint(
            "duration_days >= 0", name=op.f("ck_hospital_treatments_duration_days_non_negative")
        ),
        sa.CheckConstraint(
            "success_rate BETWEEN 0 AND 100", name=op.f("ck_hospital_treatments_success_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_hospital_treatments_hospital_id_hospitals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["treatment_id"],
            ["treatments.id"],
            name=op.f("fk_hospital_treatments_treatment_id_treatments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospital_treatments")),
        sa.UniqueConstraint(
            "hospital_id", "treatment_id", name=op.f("uq_hospital_treatments_hospital_id_treatment_id")
        ),
    )
    op.create_index(
        op.f("ix_hospital_treatments_created_at"), "hospital_treatments", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_hospital_treatments_treatment_id"), "hospital_treatments", ["treatment_id"], unique=False
    )

    op.create_table(
        "packages",
        id_column(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("base_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("inclusions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("hospital_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("treatment_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("flights_included", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("accommodation_included", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("transfers_included", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("seasonal_pricing", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint("base_price >= 0", name=op.f("ck_packages_base_price_non_negative")),
        sa.CheckConstraint("duration_days >= 0", name=op.f("ck_packages_duration_days_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
    )
    op.create_index(op.f("ix_packages_country"), "packages", ["country"], unique=False)
    op.create_index(op.f("ix_packages_created_at"), "packages", ["created_at"], unique=False)

    op.create_table(
        "laboratories",
        id_column(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("services_offered", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_laboratories_hospital_id_hospitals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_laboratories")),
    )
    op.create_index(op.f("ix_laboratories_created_at"), "laboratories", ["created_at"], unique=False)
    op.create_index(op.f("ix_laboratories_hospital_id"), "laboratories", ["hospital_id"], unique=False)

    op.create_table(
        "insurance",
        id_column(),
        sa.Column("provider_name", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("logo", sa.Text(), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("contact_email", sa.String(length=255), nullable=True),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("coverage_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance")),
    )
    op.create_index(op.f("ix_insurance_created_at"), "insurance", ["created_at"], unique=False)

    op.create_table(
        "bookings",
        id_column(),
        sa.Column("booking_number", sa.String(length=50), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("treatment_id", sa.UUID(), nullable=True),
        sa.Column("package_id", sa.UUID(), nullable=True),
        sa.Column("booking_type", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="requested", nullable=False),
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=True),
        sa.Column("confirmed_date", sa.Date(), nullable=True),
        sa.Column("completion_date", sa.Date(), nullable=True),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("payment_status", sa.String(length=50), server_default="unpaid", nullable=False),
        sa.Column("medical_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("quotation_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("travel_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("refund_requested", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("coordinator_id", sa.UUID(), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "booking_type IS NULL OR booking_type IN ('treatment', 'package')",
            name=op.f("ck_bookings_booking_type_allowed"),
        ),
        sa.CheckConstraint(
            "payment_status IN ('unpaid', 'pending', 'paid', 'partially_refunded', 'refunded')",
            name=op.f("ck_bookings_payment_status_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'under_review', 'accepted', 'rejected', 'awaiting_medical_details', 'quotation_sent', 'confirmed', 'on_hold', 'cancelled', 'payment_pending', 'payment_completed', 'invoice_sent', 'travel_arrangement', 'in_treatment', 'completed', 'feedback_received')",
            name=op.f("ck_bookings_status_allowed"),
        ),
        sa.CheckConstraint("status_seq >= 0", name=op.f("ck_bookings_status_seq_non_negative")),
        sa.CheckConstraint("total_amount >= 0", name=op.f("ck_bookings_total_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["users.id"],
            name=op.f("fk_bookings_coordinator_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_bookings_hospital_id_hospitals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_bookings_package_id_packages"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_bookings_patient_id_patients"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["treatment_id"],
            ["treatments.id"],
            name=op.f("fk_bookings_treatment_id_treatments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("booking_number", name=op.f("uq_bookings_booking_number")),
    )
    op.create_index(op.f("ix_bookings_coordinator_id"), "bookings", ["coordinator_id"], unique=False)
    op.create_index(op.f("ix_bookings_created_at"), "bookings", ["created_at"], unique=False)
    op.create_index(op.f("ix_bookings_hospital_id"), "bookings", ["hospital_id"], unique=False)
    op.create_index(op.f("ix_bookings_package_id"), "bookings", ["package_id"], unique=False)
    op.create_index(op.f("ix_bookings_patient_id"), "bookings", ["patient_id"], unique=False)
    op.create_index(op.f("ix_bookings_payment_status"), "bookings", ["payment_status"], unique=False)
    op.create_index(op.f("ix_bookings_status"), "bookings", ["status"], unique=False)
    op.create_index(op.f("ix_bookings_treatment_id"), "bookings", ["treatment_id"], unique=False)

    op.create_table(
        "booking_status_history",
        id_column(),
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_booking_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('requested', 'under_review', 'accepted', 'rejected', 'awaiting_medical_details', 'quotation_sent', 'confirmed', 'on_hold', 'cancelled', 'payment_pending', 'payment_completed', 'invoice_sent', 'travel_arrangement', 'in_treatment', 'completed', 'feedback_received')",
            name=op.f("ck_booking_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('requested', 'under_review', 'accepted', 'rejected', 'awaiting_medical_details', 'quotation_sent', 'confirmed', 'on_hold', 'cancelled', 'payment_pending', 'payment_completed', 'invoice_sent', 'travel_arrangement', 'in_treatment', 'completed', 'feedback_received')",
            name=op.f("ck_booking_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_booking_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_status_history_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_booking_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_status_history")),
        sa.UniqueConstraint("booking_id", "seq", name=op.f("uq_booking_status_history_booking_id_seq")),
    )
    op.create_index(
        op.f("ix_booking_status_history_changed_by_user_id"),
        "booking_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_booking_status_history_created_at"), "booking_status_history", ["created_at"], unique=False
    )

    op.create_table(
        "appointments",
        id_column(),
        sa.Column("appointment_number", sa.String(length=50), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("appointment_type", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="requested", nullable=False),
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("scheduled_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), server_default=sa.text("30"), nullable=False),
        sa.Column("consultation_fee", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("chief_complaint", sa.Text(), nullable=True),
        sa.Column("diagnosis", sa.Text(), nullable=True),
        sa.Column("prescription", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("follow_up_date", sa.Date(), nullable=True),
        sa.Column("video_call_link", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "appointment_type IS NULL OR appointment_type IN ('teleconsult', 'in_person')",
            name=op.f("ck_appointments_appointment_type_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'booked', 'appointment_confirmed', 'awaiting_consultation', 'consultation_in_progress', 'prescription_provided', 'follow_up_scheduled', 'consultation_completed', 'cancelled', 'no_show')",
            name=op.f("ck_appointments_status_allowed"),
        ),
        sa.CheckConstraint(
            "consultation_fee >= 0", name=op.f("ck_appointments_consultation_fee_non_negative")
        ),
        sa.CheckConstraint("duration_minutes > 0", name=op.f("ck_appointments_duration_minutes_positive")),
        sa.CheckConstraint("status_seq >= 0", name=op.f("ck_appointments_status_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_appointments_booking_id_bookings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["doctors.id"], name=op.f("fk_appointments_doctor_id_doctors"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_appointments_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("appointment_number", name=op.f("uq_appointments_appointment_number")),
    )
    op.create_index(op.f("ix_appointments_booking_id"), "appointments", ["booking_id"], unique=False)
    op.create_index(op.f("ix_appointments_created_at"), "appointments", ["created_at"], unique=False)
    op.create_index(op.f("ix_appointments_doctor_id"), "appointments", ["doctor_id"], unique=False)
    op.create_index(op.f("ix_appointments_patient_id"), "appointments", ["patient_id"], unique=False)
    op.create_index(op.f("ix_appointments_scheduled_date"), "appointments", ["scheduled_date"], unique=False)
    op.create_index(op.f("ix_appointments_status"), "appointments", ["status"], unique=False)

    op.create_table(
        "appointment_status_history",
        id_column(),
        sa.Column("appointment_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_appointment_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('requested', 'booked', 'appointment_confirmed', 'awaiting_consultation', 'consultation_in_progress', 'prescription_provided', 'follow_up_scheduled', 'consultation_completed', 'cancelled', 'no_show')",
            name=op.f("ck_appointment_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('requested', 'booked', 'appointment_confirmed', 'awaiting_consultation', 'consultation_in_progress', 'prescription_provided', 'follow_up_scheduled', 'consultation_completed', 'cancelled', 'no_show')",
            name=op.f("ck_appointment_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_appointment_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_status_history_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_appointment_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_status_history")),
        sa.UniqueConstraint(
            "appointment_id", "seq", name=op.f("uq_appointment_status_history_appointment_id_seq")
        ),
    )
    op.create_index(
        op.f("ix_appointment_status_history_changed_by_user_id"),
        "appointment_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_appointment_status_history_created_at"),
        "appointment_status_history",
        ["created_at"],
        unique=False,
    )

    op.create_table(
        "medical_records",
        id_column(),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("record_type", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("file_url", sa.Text(), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("file_type", sa.String(length=50), nullable=True),
        sa.Column("uploaded_by_user_id", sa.UUID(), nullable=True),
        sa.Column("record_date", sa.Date(), nullable=True),
        sa.Column("is_shared_with_doctors", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "record_type IN ('xray', 'mri', 'ct_scan', 'lab_report', 'prescription', 'discharge_summary', 'other')",
            name=op.f("ck_medical_records_record_type_allowed"),
        ),
        sa.CheckConstraint("file_size >= 0", name=op.f("ck_medical_records_file_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_medical_records_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_medical_records_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_user_id"],
            ["users.id"],
            name=op.f("fk_medical_records_uploaded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_records")),
    )
    op.create_index(
        op.f("ix_medical_records_appointment_id"), "medical_records", ["appointment_id"], unique=False
    )
    op.create_index(op.f("ix_medical_records_created_at"), "medical_records", ["created_at"], unique=False)
    op.create_index(op.f("ix_medical_records_patient_id"), "medical_records", ["patient_id"], unique=False)
    op.create_index(op.f("ix_medical_records_record_type"), "medical_records", ["record_type"], unique=False)
    op.create_index(
        op.f("ix_medical_records_uploaded_by_user_id"),
        "medical_records",
        ["uploaded_by_user_id"],
        unique=False,
    )

    op.create_table(
        "prescriptions",
        id_column(),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("medications", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("pdf_url", sa.Text(), nullable=True),
        sa.Column("is_dispensed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_prescriptions_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name=op.f("fk_prescriptions_doctor_id_doctors"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_prescriptions_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptions")),
    )
    op.create_index(
        op.f("ix_prescriptions_appointment_id"), "prescriptions", ["appointment_id"], unique=False
    )
    op.create_index(op.f("ix_prescriptions_created_at"), "prescriptions", ["created_at"], unique=False)
    op.create_index(op.f("ix_prescriptions_doctor_id"), "prescriptions", ["doctor_id"], unique=False)
    op.create_index(op.f("ix_prescriptions_patient_id"), "prescriptions", ["patient_id"], unique=False)

    op.create_table(
        "lab_tests",
        id_column(),
        sa.Column("test_number", sa.String(length=50), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=True),
        sa.Column("lab_id", sa.UUID(), nullable=True),
        sa.Column("test_type", sa.String(length=100), nullable=True),
        sa.Column("test_name", sa.String(length=255), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="requested", nullable=False),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "status IN ('requested', 'scheduled', 'sample_collected', 'completed', 'cancelled')",
            name=op.f("ck_lab_tests_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["doctors.id"], name=op.f("fk_lab_tests_doctor_id_doctors"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["lab_id"],
            ["laboratories.id"],
            name=op.f("fk_lab_tests_lab_id_laboratories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_lab_tests_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_tests")),
        sa.UniqueConstraint("test_number", name=op.f("uq_lab_tests_test_number")),
    )
    op.create_index(op.f("ix_lab_tests_created_at"), "lab_tests", ["created_at"], unique=False)
    op.create_index(op.f("ix_lab_tests_doctor_id"), "lab_tests", ["doctor_id"], unique=False)
    op.create_index(op.f("ix_lab_tests_lab_id"), "lab_tests", ["lab_id"], unique=False)
    op.create_index(op.f("ix_lab_tests_patient_id"), "lab_tests", ["patient_id"], unique=False)
    op.create_index(op.f("ix_lab_tests_status"), "lab_tests", ["status"], unique=False)

    op.create_table(
        "coupons",
        id_column(),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("discount_type", sa.String(length=50), nullable=False),
        sa.Column("discount_value", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("min_purchase_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("max_discount_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "discount_type <> 'percentage' OR discount_value <= 100",
            name=op.f("ck_coupons_percentage_at_most_100"),
        ),
        sa.CheckConstraint(
            "discount_type IN ('percentage', 'fixed')", name=op.f("ck_coupons_discount_type_allowed")
        ),
        sa.CheckConstraint("discount_value > 0", name=op.f("ck_coupons_discount_value_positive")),
        sa.CheckConstraint(
            "max_discount_amount >= 0", name=op.f("ck_coupons_max_discount_amount_non_negative")
        ),
        sa.CheckConstraint(
            "min_purchase_amount >= 0", name=op.f("ck_coupons_min_purchase_amount_non_negative")
        ),
        sa.CheckConstraint(
            "usage_count >= 0 AND (usage_limit IS NULL OR usage_count <= usage_limit)",
            name=op.f("ck_coupons_usage_within_limit"),
        ),
        sa.CheckConstraint("valid_until >= valid_from", name=op.f("ck_coupons_validity_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
    )
    op.create_index(op.f("ix_coupons_created_at"), "coupons", ["created_at"], unique=False)

    op.create_table(
        "payments",
        id_column(),
        sa.Column("transaction_id", sa.String(length=100), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method", sa.String(length=50), nullable=True),
        sa.Column("payment_gateway", sa.String(length=50), nullable=False),
        sa.Column("gateway_transaction_id", sa.String(length=255), nullable=True),
        sa.Column("gateway_order_id", sa.String(length=255), nullable=True),
        sa.Column("gateway_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("coupon_id", sa.UUID(), nullable=True),
        sa.Column(
            "discount_amount", sa.Numeric(precision=12, scale=2), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("status", sa.String(length=50), server_default="pending", nullable=False),
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("payment_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("refund_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "payment_gateway IN ('stripe', 'razorpay')", name=op.f("ck_payments_payment_gateway_allowed")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed', 'expired', 'cancelled', 'refunded', 'partially_refunded')",
            name=op.f("ck_payments_status_allowed"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_non_negative")),
        sa.CheckConstraint(
            "booking_id IS NOT NULL OR appointment_id IS NOT NULL",
            name=op.f("ck_payments_pays_for_something"),
        ),
        sa.CheckConstraint("discount_amount >= 0", name=op.f("ck_payments_discount_amount_non_negative")),
        sa.CheckConstraint(
            "refund_amount IS NULL OR (refund_amount >= 0 AND refund_amount <= amount)",
            name=op.f("ck_payments_refund_amount_within_amount"),
        ),
        sa.CheckConstraint("status_seq >= 0", name=op.f("ck_payments_status_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_payments_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_payments_booking_id_bookings"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_payments_coupon_id_coupons"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_payments_patient_id_patients"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("gateway_order_id", name=op.f("uq_payments_gateway_order_id")),
        sa.UniqueConstraint("gateway_payment_intent_id", name=op.f("uq_payments_gateway_payment_intent_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payments_idempotency_key")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_payments_transaction_id")),
    )
    op.create_index(op.f("ix_payments_appointment_id"), "payments", ["appointment_id"], unique=False)
    op.create_index(op.f("ix_payments_booking_id"), "payments", ["booking_id"], unique=False)
    op.create_index(op.f("ix_payments_coupon_id"), "payments", ["coupon_id"], unique=False)
    op.create_index(op.f("ix_payments_created_at"), "payments", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_payments_gateway_transaction_id"), "payments", ["gateway_transaction_id"], unique=False
    )
    op.create_index(op.f("ix_payments_patient_id"), "payments", ["patient_id"], unique=False)
    op.create_index(op.f("ix_payments_status"), "payments", ["status"], unique=False)

    op.create_table(
        "payment_status_history",
        id_column(),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_payment_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('pending', 'processing', 'completed', 'failed', 'expired', 'cancelled', 'refunded', 'partially_refunded')",
            name=op.f("ck_payment_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('pending', 'processing', 'completed', 'failed', 'expired', 'cancelled', 'refunded', 'partially_refunded')",
            name=op.f("ck_payment_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_payment_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_payment_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_status_history_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_status_history")),
        sa.UniqueConstraint("payment_id", "seq", name=op.f("uq_payment_status_history_payment_id_seq")),
    )
    op.create_index(
        op.f("ix_payment_status_history_changed_by_user_id"),
        "payment_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_status_history_created_at"), "payment_status_history", ["created_at"], unique=False
    )

    op.create_table(
        "invoices",
        id_column(),
        sa.Column("invoice_number", sa.String(length=50), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column(
            "tax_amount", sa.Numeric(precision=12, scale=2), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "discount_amount", sa.Numeric(precision=12, scale=2), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("final_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("line_items", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("invoice_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("pdf_url", sa.Text(), nullable=True),
        sa.Column("pdf_storage_key", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="draft", nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "status IN ('draft', 'issued', 'sent', 'paid', 'cancelled')",
            name=op.f("ck_invoices_status_allowed"),
        ),
        sa.CheckConstraint("discount_amount >= 0", name=op.f("ck_invoices_discount_amount_non_negative")),
        sa.CheckConstraint(
            "due_date IS NULL OR due_date >= invoice_date", name=op.f("ck_invoices_due_after_issue")
        ),
        sa.CheckConstraint("final_amount >= 0", name=op.f("ck_invoices_final_amount_non_negative")),
        sa.CheckConstraint("tax_amount >= 0", name=op.f("ck_invoices_tax_amount_non_negative")),
        sa.CheckConstraint("tax_rate BETWEEN 0 AND 100", name=op.f("ck_invoices_tax_rate_range")),
        sa.CheckConstraint("total_amount >= 0", name=op.f("ck_invoices_total_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_invoices_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_invoices_booking_id_bookings"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_invoices_hospital_id_hospitals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_invoices_patient_id_patients"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("invoice_number", name=op.f("uq_invoices_invoice_number")),
    )
    op.create_index(op.f("ix_invoices_appointment_id"), "invoices", ["appointment_id"], unique=False)
    op.create_index(op.f("ix_invoices_booking_id"), "invoices", ["booking_id"], unique=False)
    op.create_index(op.f("ix_invoices_created_at"), "invoices", ["created_at"], unique=False)
    op.create_index(op.f("ix_invoices_hospital_id"), "invoices", ["hospital_id"], unique=False)
    op.create_index(op.f("ix_invoices_patient_id"), "invoices", ["patient_id"], unique=False)
    op.create_index(op.f("ix_invoices_status"), "invoices", ["status"], unique=False)

    op.create_table(
        "webhook_events",
        id_column(),
        sa.Column("gateway", sa.String(length=50), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signature_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "gateway IN ('stripe', 'razorpay')", name=op.f("ck_webhook_events_gateway_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("gateway", "event_id", name=op.f("uq_webhook_events_gateway_event_id")),
    )
    op.create_index(op.f("ix_webhook_events_created_at"), "webhook_events", ["created_at"], unique=False)

    op.create_table(
        "subscription_plans",
        id_column(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("plan_type", sa.String(length=50), nullable=True),
        sa.Column("target_user", sa.String(length=50), nullable=False),
        sa.Column("price_monthly", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("price_yearly", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("max_doctors", sa.Integer(), nullable=True),
        sa.Column("max_appointments_per_month", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "target_user IN ('hospital', 'doctor')", name=op.f("ck_subscription_plans_target_user_allowed")
        ),
        sa.CheckConstraint(
            "price_monthly >= 0", name=op.f("ck_subscription_plans_price_monthly_non_negative")
        ),
        sa.CheckConstraint("price_yearly >= 0", name=op.f("ck_subscription_plans_price_yearly_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plans")),
        sa.UniqueConstraint("name", "target_user", name=op.f("uq_subscription_plans_name_target_user")),
    )
    op.create_index(
        op.f("ix_subscription_plans_created_at"), "subscription_plans", ["created_at"], unique=False
    )

    op.create_table(
        "subscriptions",
        id_column(),
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("doctor_id", sa.UUID(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("billing_cycle", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=50), server_default="pending", nullable=False),
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "billing_cycle IN ('monthly', 'yearly')", name=op.f("ck_subscriptions_billing_cycle_allowed")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'past_due', 'cancelled', 'expired')",
            name=op.f("ck_subscriptions_status_allowed"),
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_subscriptions_dates_ordered")
        ),
        sa.CheckConstraint(
            "num_nonnulls(hospital_id, doctor_id) = 1", name=op.f("ck_subscriptions_one_holder")
        ),
        sa.CheckConstraint("status_seq >= 0", name=op.f("ck_subscriptions_status_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["doctors.id"], name=op.f("fk_subscriptions_doctor_id_doctors"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_subscriptions_hospital_id_hospitals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["subscription_plans.id"],
            name=op.f("fk_subscriptions_plan_id_subscription_plans"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_created_at"), "subscriptions", ["created_at"], unique=False)
    op.create_index(op.f("ix_subscriptions_doctor_id"), "subscriptions", ["doctor_id"], unique=False)
    op.create_index(op.f("ix_subscriptions_hospital_id"), "subscriptions", ["hospital_id"], unique=False)
    op.create_index(op.f("ix_subscriptions_plan_id"), "subscriptions", ["plan_id"], unique=False)
    op.create_index(op.f("ix_subscriptions_status"), "subscriptions", ["status"], unique=False)

    op.create_table(
        "subscription_status_history",
        id_column(),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_subscription_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('pending', 'active', 'past_due', 'cancelled', 'expired')",
            name=op.f("ck_subscription_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('pending', 'active', 'past_due', 'cancelled', 'expired')",
            name=op.f("ck_subscription_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_subscription_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_subscription_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_status_history_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_status_history")),
        sa.UniqueConstraint(
            "subscription_id", "seq", name=op.f("uq_subscription_status_history_subscription_id_seq")
        ),
    )
    op.create_index(
        op.f("ix_subscription_status_history_changed_by_user_id"),
        "subscription_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subscription_status_history_created_at"),
        "subscription_status_history",
        ["created_at"],
        unique=False,
    )

    op.create_table(
        "reviews",
        id_column(),
        sa.Column("patient_id", sa.UUID(), nullable=True),
        sa.Column("doctor_id", sa.UUID(), nullable=True),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("appointment_id", sa.UUID(), nullable=True),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("review_text", sa.Text(), nullable=True),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_published", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "doctor_id IS NOT NULL OR hospital_id IS NOT NULL", name=op.f("ck_reviews_reviews_someone")
        ),
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_reviews_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_reviews_booking_id_bookings"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["doctors.id"], name=op.f("fk_reviews_doctor_id_doctors"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_reviews_hospital_id_hospitals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_reviews_patient_id_patients"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_appointment_id"), "reviews", ["appointment_id"], unique=False)
    op.create_index(op.f("ix_reviews_booking_id"), "reviews", ["booking_id"], unique=False)
    op.create_index(op.f("ix_reviews_created_at"), "reviews", ["created_at"], unique=False)
    op.create_index(op.f("ix_reviews_doctor_id"), "reviews", ["doctor_id"], unique=False)
    op.create_index(op.f("ix_reviews_hospital_id"), "reviews", ["hospital_id"], unique=False)
    op.create_index(op.f("ix_reviews_patient_id"), "reviews", ["patient_id"], unique=False)

    op.create_table(
        "support_tickets",
        id_column(),
        sa.Column("ticket_number", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("priority", sa.String(length=50), server_default="medium", nullable=False),
        sa.Column("status", sa.String(length=50), server_default="open", nullable=False),
        sa.Column("assigned_to_user_id", sa.UUID(), nullable=True),
        sa.Column("sla_due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_notes", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high', 'urgent')",
            name=op.f("ck_support_tickets_priority_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'waiting', 'resolved', 'closed')",
            name=op.f("ck_support_tickets_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_user_id"],
            ["users.id"],
            name=op.f("fk_support_tickets_assigned_to_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_support_tickets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
        sa.UniqueConstraint("ticket_number", name=op.f("uq_support_tickets_ticket_number")),
    )
    op.create_index(
        op.f("ix_support_tickets_assigned_to_user_id"),
        "support_tickets",
        ["assigned_to_user_id"],
        unique=False,
    )
    op.create_index(op.f("ix_support_tickets_created_at"), "support_tickets", ["created_at"], unique=False)
    op.create_index(op.f("ix_support_tickets_priority"), "support_tickets", ["priority"], unique=False)
    op.create_index(op.f("ix_support_tickets_status"), "support_tickets", ["status"], unique=False)
    op.create_index(op.f("ix_support_tickets_user_id"), "support_tickets", ["user_id"], unique=False)

    op.create_table(
        "support_ticket_replies",
        id_column(),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("is_internal", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        created_at_column(),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_ticket_replies_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_support_ticket_replies_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket_replies")),
    )
    op.create_index(
        op.f("ix_support_ticket_replies_created_at"), "support_ticket_replies", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_support_ticket_replies_ticket_id"), "support_ticket_replies", ["ticket_id"], unique=False
    )
    op.create_index(
        op.f("ix_support_ticket_replies_user_id"), "support_ticket_replies", ["user_id"], unique=False
    )

    op.create_table(
        "translations",
        id_column(),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("field_name", sa.String(length=100), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("translated_text", sa.Text(), nullable=False),
        sa.Column("is_auto_translated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translations")),
        sa.UniqueConstraint(
            "entity_type",
            "entity_id",
            "field_name",
            "locale",
            name=op.f("uq_translations_entity_type_entity_id_field_name_locale"),
        ),
    )
    op.create_index(op.f("ix_translations_created_at"), "translations", ["created_at"], unique=False)
    op.create_index(op.f("ix_translations_locale"), "translations", ["locale"], unique=False)

    op.create_table(
        "translation_jobs",
        id_column(),
        sa.Column("entity_type", sa.String(length=100), nullable=True),
        sa.Column("entity_id", sa.UUID(), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("source_locale", sa.String(length=10), server_default="en", nullable=False),
        sa.Column("target_locales", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("engine", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="pending", nullable=False),
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("translated_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by_user_id", sa.UUID(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        created_at_column(),
        updated_at_column(),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_translation_jobs_status_allowed"),
        ),
        sa.CheckConstraint("status_seq >= 0", name=op.f("ck_translation_jobs_status_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_translation_jobs_requested_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation_jobs")),
    )
    op.create_index(op.f("ix_translation_jobs_created_at"), "translation_jobs", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_translation_jobs_entity_type_entity_id"),
        "translation_jobs",
        ["entity_type", "entity_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_translation_jobs_requested_by_user_id"),
        "translation_jobs",
        ["requested_by_user_id"],
        unique=False,
    )
    op.create_index(op.f("ix_translation_jobs_status"), "translation_jobs", ["status"], unique=False)

    op.create_table(
        "translation_job_status_history",
        id_column(),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        created_at_column(),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN ('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_translation_job_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_translation_job_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_translation_job_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_translation_job_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_translation_job_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["translation_jobs.id"],
            name=op.f("fk_translation_job_status_history_job_id_translation_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation_job_status_history")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_translation_job_status_history_job_id_seq")),
    )
    op.create_index(
        op.f("ix_translation_job_status_history_changed_by_user_id"),
        "translation_job_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_translation_job_status_history_created_at"),
        "translation_job_status_history",
        ["created_at"],
        unique=False,
    )

    op.create_table(
        "faqs",
        id_column(),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("display_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_published", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faqs")),
    )
    op.create_index(op.f("ix_faqs_category"), "faqs", ["category"], unique=False)
    op.create_index(op.f("ix_faqs_created_at"), "faqs", ["created_at"], unique=False)

    op.create_table(
        "website_content",
        id_column(),
        sa.Column("page_slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("meta_description", sa.Text(), nullable=True),
        sa.Column("meta_keywords", sa.Text(), nullable=True),
        sa.Column("is_published", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        created_at_column(),
        updated_at_column(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_website_content")),
        sa.UniqueConstraint("page_slug", name=op.f("uq_website_content_page_slug")),
    )
    op.create_index(op.f("ix_website_content_created_at"), "website_content", ["created_at"], unique=False)

    op.create_table(
        "media",
        id_column(),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_url", sa.Text(), nullable=True),
        sa.Column("file_type", sa.String(length=50), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("entity_type", sa.String(length=100), nullable=True),
        sa.Column("entity_id", sa.UUID(), nullable=True),
        sa.Column("uploaded_by_user_id", sa.UUID(), nullable=True),
        created_at_column(),
        sa.CheckConstraint("file_size >= 0", name=op.f("ck_media_file_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["uploaded_by_user_id"],
            ["users.id"],
            name=op.f("fk_media_uploaded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_index(op.f("ix_media_created_at"), "media", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_media_entity_type_entity_id"), "media", ["entity_type", "entity_id"], unique=False
    )
    op.create_index(op.f("ix_media_uploaded_by_user_id"), "media", ["uploaded_by_user_id"], unique=False)

    op.create_table(
        "audit_logs",
        id_column(),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=True),
        sa.Column("entity_id", sa.UUID(), nullable=True),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        created_at_column(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_logs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index(op.f("ix_audit_logs_action"), "audit_logs", ["action"], unique=False)
    op.create_index(op.f("ix_audit_logs_created_at"), "audit_logs", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_audit_logs_entity_type_entity_id"), "audit_logs", ["entity_type", "entity_id"], unique=False
    )
    op.create_index(op.f("ix_audit_logs_request_id"), "audit_logs", ["request_id"], unique=False)
    op.create_index(op.f("ix_audit_logs_user_id"), "audit_logs", ["user_id"], unique=False)

    op.execute(SET_UPDATED_AT)
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(
            f"CREATE TRIGGER trg_{table}_set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )


def downgrade() -> None:
    # Dropping a table drops its indexes, constraints and trigger with it.
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DROP FUNCTION set_updated_at()")
