"""Analytics and dashboards read indexes (measured by `python -m bench.analytics`, bench/README.md):
the roll-up by scope, metric and day, covering what an answer reads (it replaces (hospital_id,
day), which it also serves as a prefix); partial indexes for the dashboards' queues: bookings
waiting for review (by created_at), open bookings by status, a hospital's open bookings by arrival
date, and the accounts waiting for approval.

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in domain/models/bookings.py when this was written (a migration keeps its own copy).
OPEN = "status NOT IN ('cancelled', 'completed', 'feedback_received', 'rejected')"
IN_REVIEW = "status IN ('requested', 'under_review')"


def upgrade() -> None:
    op.create_index(
        "ix_analytics_daily_hospital_id_metric_day",
        "analytics_daily",
        ["hospital_id", "metric", "day"],
        postgresql_include=["key", "currency", "count", "amount"],
    )
    op.drop_index("ix_analytics_daily_hospital_id_day", table_name="analytics_daily")
    op.create_index(
        "ix_bookings_review_queue", "bookings", ["created_at"], postgresql_where=sa.text(IN_REVIEW)
    )
    op.create_index(
        "ix_bookings_open_status", "bookings", ["status"], postgresql_where=sa.text(OPEN)
    )
    op.create_index(
        "ix_bookings_open_hospital_arrival",
        "bookings",
        ["hospital_id", "confirmed_date", "booking_number"],
        postgresql_include=["status"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_users_awaiting_approval",
        "users",
        ["user_type"],
        postgresql_where=sa.text("is_approved IS false AND is_active IS true"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_awaiting_approval", table_name="users")
    op.drop_index("ix_bookings_open_hospital_arrival", table_name="bookings")
    op.drop_index("ix_bookings_open_status", table_name="bookings")
    op.drop_index("ix_bookings_review_queue", table_name="bookings")
    op.create_index(
        "ix_analytics_daily_hospital_id_day", "analytics_daily", ["hospital_id", "day"]
    )
    op.drop_index("ix_analytics_daily_hospital_id_metric_day", table_name="analytics_daily")
