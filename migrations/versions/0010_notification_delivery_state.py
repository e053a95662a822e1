"""Notifications keep what the provider's delivery receipts say (Twilio status callbacks):
delivery_status and delivered_at, found by (provider, provider_message_id).

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("queued", "sent", "delivered", "undelivered", "failed", "read")


def upgrade() -> None:
    op.add_column("notifications", sa.Column("delivery_status", sa.String(length=20)))
    op.add_column("notifications", sa.Column("delivered_at", sa.DateTime(timezone=True)))
    listed = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_check_constraint(
        op.f("ck_notifications_delivery_status_allowed"),
        "notifications",
        f"delivery_status IS NULL OR delivery_status IN ({listed})",
    )
    op.create_index(
        "ix_notifications_provider_message_id",
        "notifications",
        ["provider", "provider_message_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_provider_message_id", table_name="notifications")
    op.drop_constraint(
        op.f("ck_notifications_delivery_status_allowed"), "notifications", type_="check"
    )
    op.drop_column("notifications", "delivered_at")
    op.drop_column("notifications", "delivery_status")
