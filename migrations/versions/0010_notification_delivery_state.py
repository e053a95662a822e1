"""Push devices (user_devices: a user's FCM registration tokens) and notifications keep what the provider's delivery receipts say (Twilio status callbacks):
delivery_status and delivered_at, found by (provider, provider_message_id).

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
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


    op.create_table(
        "user_devices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "platform IN ('android', 'ios', 'web')", name=op.f("ck_user_devices_platform_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_devices")),
        sa.UniqueConstraint("token", name=op.f("uq_user_devices_token")),
    )
    op.create_index("ix_user_devices_user_id", "user_devices", ["user_id"])
    op.execute(
        "CREATE TRIGGER trg_user_devices_set_updated_at BEFORE UPDATE ON user_devices "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_index("ix_user_devices_user_id", table_name="user_devices")
    op.drop_table("user_devices")
    op.drop_index("ix_notifications_provider_message_id", table_name="notifications")
    op.drop_constraint(
        op.f("ck_notifications_delivery_status_allowed"), "notifications", type_="check"
    )
    op.drop_column("notifications", "delivered_at")
    op.drop_column("notifications", "delivery_status")
