"""The daily analytics roll-up (analytics_daily) and the days it has computed (analytics_days);
payments indexed by the day their money arrived and was refunded (what the roll-up reads).

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hospital_id", sa.UUID(), nullable=True),
        sa.Column("metric", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=100), server_default=sa.text("''"), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("''"), nullable=False),
        sa.Column("count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_analytics_daily_hospital_id_hospitals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_daily")),
        sa.UniqueConstraint(
            "day",
            "hospital_id",
            "metric",
            "key",
            "currency",
            name=op.f("uq_analytics_daily_day_hospital_id_metric_key_currency"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(op.f("ix_analytics_daily_day"), "analytics_daily", ["day"])
    op.create_index(
        op.f("ix_analytics_daily_hospital_id_day"), "analytics_daily", ["hospital_id", "day"]
    )
    op.create_index(op.f("ix_payments_payment_date"), "payments", ["payment_date"])
    op.create_index(op.f("ix_payments_refund_date"), "payments", ["refund_date"])
    op.create_table(
        "analytics_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_days")),
    )


def downgrade() -> None:
    op.drop_table("analytics_days")
    op.drop_index(op.f("ix_payments_refund_date"), table_name="payments")
    op.drop_index(op.f("ix_payments_payment_date"), table_name="payments")
    op.drop_index(op.f("ix_analytics_daily_hospital_id_day"), table_name="analytics_daily")
    op.drop_index(op.f("ix_analytics_daily_day"), table_name="analytics_daily")
    op.drop_table("analytics_daily")
