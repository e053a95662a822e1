"""Scheduling: users' and doctors' time zones, the doctors' availability in one shape (weekly_hours
+ timezone, from the old availability_slots, which goes), the appointments' end, held range and
lifecycle columns with the no-double-booking exclusion constraint, the waitlist and slot holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")

DOCTOR_CHECKS = {
    "slot_minutes_range": "slot_minutes BETWEEN 5 AND 480",
    "buffer_minutes_range": "buffer_minutes BETWEEN 0 AND 240",
    "minimum_notice_hours_non_negative": "minimum_notice_hours >= 0",
    "max_per_day_positive": "max_per_day IS NULL OR max_per_day > 0",
    "change_notice_hours_non_negative": "change_notice_hours >= 0",
    "max_reschedules_non_negative": "max_reschedules >= 0",
}


def _day(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 6 else None
    if isinstance(value, str):
        name = value.strip().lower()
        if name.isdigit() and len(name) == 1 and int(name) <= 6:
            return int(name)
        for index, day in enumerate(DAYS):
            if name in (day, day[:3]):
                return index
    return None


def _weekly_hours(stored: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The old availability_slots ({"day": "mon" | 0, "start", "end"[, "timezone"]}) as the new
    weekly_hours and zone; entries that cannot be read are dropped."""
    hours: list[dict[str, Any]] = []
    zone = None
    for item in stored if isinstance(stored, list) else []:
        if not isinstance(item, dict):
            continue
        day, start, end = _day(item.get("day")), item.get("start"), item.get("end")
        if (
            day is not None
            and isinstance(start, str)
            and isinstance(end, str)
            and CLOCK.match(start.strip())
            and CLOCK.match(end.strip())
            and start.strip() < end.strip()
        ):
            entry = {"day": day, "start": start.strip(), "end": end.strip()}
            if entry not in hours:
                hours.append(entry)
        tz = item.get("timezone")
        if zone is None and isinstance(tz, str) and ZONE.match(tz) and ".." not in tz:
            zone = tz
    hours.sort(key=lambda h: (h["day"], h["start"]))
    # Overlapping entries of one day (never accepted by the API) keep the earlier one.
    kept: list[dict[str, Any]] = []
    for entry in hours:
        if kept and kept[-1]["day"] == entry["day"] and entry["start"] < kept[-1]["end"]:
            continue
        kept.append(entry)
    return kept, zone


def upgrade() -> None:
    op.add_column("users", sa.Column("timezone", sa.String(length=64), nullable=True))

    op.add_column("doctors", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column(
        "doctors",
        sa.Column(
            "weekly_hours",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "doctors",
        sa.Column(
            "dates_off",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    for name, default in (
        ("slot_minutes", "30"),
        ("buffer_minutes", "0"),
        ("minimum_notice_hours", "12"),
    ):
        op.add_column(
            "doctors",
            sa.Column(name, sa.Integer(), server_default=sa.text(default), nullable=False),
        )
    op.add_column("doctors", sa.Column("max_per_day", sa.Integer(), nullable=True))
    for name, default in (("change_notice_hours", "24"), ("max_reschedules", "2")):
        op.add_column(
            "doctors",
            sa.Column(name, sa.Integer(), server_default=sa.text(default), nullable=False),
        )
    op.add_column(
        "doctors",
        sa.Column(
            "requires_prepayment", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
    )
    for name, condition in DOCTOR_CHECKS.items():
        op.create_check_constraint(op.f(f"ck_doctors_{name}"), "doctors", condition)

    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, availability_slots FROM doctors WHERE availability_slots IS NOT NULL")
    )
    for doctor_id, stored in rows.all():
        hours, zone = _weekly_hours(stored)
        conn.execute(
            sa.text(
                "UPDATE doctors SET weekly_hours = CAST(:hours AS jsonb),"
                " timezone = COALESCE(timezone, :zone) WHERE id = :id"
            ),
            {"hours": json.dumps(hours), "zone": zone, "id": doctor_id},
        )
    op.drop_column("doctors", "availability_slots")

    op.add_column("appointments", sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("held_range", postgresql.TSTZRANGE(), nullable=True))
    # Existing rows: the end from the duration, the doctor's buffer (0 until now) after it.
    op.execute(
        "UPDATE appointments a SET ends_at = a.scheduled_date"
        " + make_interval(mins => a.duration_minutes),"
        " held_range = tstzrange(a.scheduled_date, a.scheduled_date"
        " + make_interval(mins => a.duration_minutes + d.buffer_minutes), '[)')"
        " FROM doctors d WHERE d.id = a.doctor_id"
    )
    op.alter_column("appointments", "ends_at", nullable=False)
    op.alter_column("appointments", "held_range", nullable=False)
    op.add_column("appointments", sa.Column("follow_up_of", sa.UUID(), nullable=True))
    op.add_column(
        "appointments",
        sa.Column("reschedule_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("appointments", sa.Column("cancellation_reason", sa.Text(), nullable=True))
    op.add_column(
        "appointments", sa.Column("cancelled_by_role", sa.String(length=50), nullable=True)
    )
    op.add_column("appointments", sa.Column("no_show_party", sa.String(length=10), nullable=True))
    for name in (
        "confirm_by",
        "payment_due_at",
    ):
        op.add_column("appointments", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("video_room_id", sa.String(length=255), nullable=True))
    for name in ("started_at", "completed_at", "patient_joined_at", "doctor_joined_at"):
        op.add_column("appointments", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_appointments_follow_up_of_appointments"),
        "appointments",
        "appointments",
        ["follow_up_of"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_appointments_follow_up_of"), "appointments", ["follow_up_of"], unique=False
    )
    op.create_check_constraint(
        op.f("ck_appointments_ends_after_start"), "appointments", "ends_at > scheduled_date"
    )
    op.create_check_constraint(
        op.f("ck_appointments_reschedule_count_non_negative"),
        "appointments",
        "reschedule_count >= 0",
    )
    op.create_check_constraint(
        op.f("ck_appointments_no_show_party_allowed"),
        "appointments",
        "no_show_party IS NULL OR no_show_party IN ('patient', 'doctor', 'both')",
    )
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT appointments_no_double_booking"
        " EXCLUDE USING gist (doctor_id WITH =, held_range WITH &&)"
        " WHERE (status NOT IN ('cancelled', 'no_show'))"
    )

    op.create_table(
        "doctor_waitlist",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="waiting", nullable=False),
        sa.Column("offered_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offered_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('waiting', 'offered', 'booked', 'left', 'expired')",
            name=op.f("ck_doctor_waitlist_status_allowed"),
        ),
        sa.CheckConstraint("date_to >= date_from", name=op.f("ck_doctor_waitlist_dates_ordered")),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name=op.f("fk_doctor_waitlist_doctor_id_doctors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_doctor_waitlist_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctor_waitlist")),
    )
    op.create_index(
        op.f("ix_doctor_waitlist_doctor_id_status"), "doctor_waitlist", ["doctor_id", "status"]
    )
    op.create_index(op.f("ix_doctor_waitlist_created_at"), "doctor_waitlist", ["created_at"])
    op.create_index(op.f("ix_doctor_waitlist_patient_id"), "doctor_waitlist", ["patient_id"])
    op.execute(
        "CREATE TRIGGER trg_doctor_waitlist_set_updated_at BEFORE UPDATE ON doctor_waitlist "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )

    op.create_table(
        "slot_holds",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("doctor_id", sa.UUID(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("held_range", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waitlist_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name=op.f("fk_slot_holds_doctor_id_doctors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_slot_holds_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["waitlist_id"],
            ["doctor_waitlist.id"],
            name=op.f("fk_slot_holds_waitlist_id_doctor_waitlist"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_holds")),
    )
    op.create_index(
        op.f("ix_slot_holds_doctor_id_expires_at"), "slot_holds", ["doctor_id", "expires_at"]
    )
    op.create_index(op.f("ix_slot_holds_patient_id"), "slot_holds", ["patient_id"])
    op.create_index(op.f("ix_slot_holds_waitlist_id"), "slot_holds", ["waitlist_id"])


def downgrade() -> None:
    op.drop_table("slot_holds")
    op.drop_table("doctor_waitlist")

    op.execute("ALTER TABLE appointments DROP CONSTRAINT appointments_no_double_booking")
    op.drop_constraint(op.f("fk_appointments_follow_up_of_appointments"), "appointments")
    op.drop_index(op.f("ix_appointments_follow_up_of"), table_name="appointments")
    for name in (
        "ends_after_start",
        "reschedule_count_non_negative",
        "no_show_party_allowed",
    ):
        op.drop_constraint(op.f(f"ck_appointments_{name}"), "appointments", type_="check")
    for column in (
        "doctor_joined_at",
        "patient_joined_at",
        "completed_at",
        "started_at",
        "video_room_id",
        "payment_due_at",
        "confirm_by",
        "no_show_party",
        "cancelled_by_role",
        "cancellation_reason",
        "reschedule_count",
        "follow_up_of",
        "held_range",
        "ends_at",
    ):
        op.drop_column("appointments", column)

    op.add_column(
        "doctors",
        sa.Column("availability_slots", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    # Back to the old shape: every slot carries the zone.
    op.execute(
        "UPDATE doctors SET availability_slots = ("
        " SELECT jsonb_agg(h || jsonb_build_object('timezone', COALESCE(timezone, 'UTC')))"
        " FROM jsonb_array_elements(weekly_hours) h) WHERE jsonb_array_length(weekly_hours) > 0"
    )
    for name in DOCTOR_CHECKS:
        op.drop_constraint(op.f(f"ck_doctors_{name}"), "doctors", type_="check")
    for column in (
        "requires_prepayment",
        "max_reschedules",
        "change_notice_hours",
        "max_per_day",
        "minimum_notice_hours",
        "buffer_minutes",
        "slot_minutes",
        "dates_off",
        "weekly_hours",
        "timezone",
    ):
        op.drop_column("doctors", column)
    op.drop_column("users", "timezone")
