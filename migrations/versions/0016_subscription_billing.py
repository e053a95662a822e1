"""Subscriptions bill on their own: a payment or an invoice may be a subscription's (then it has
no patient), and a subscription keeps its subscriber's time zone, its price, its current period,
the saved payment method (ids and last digits only), the change waiting for the next period and
the dunning state, so reads need no workflow query.

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIPTION_COLUMNS = (
    ("timezone", sa.String(length=64), sa.text("'UTC'"), False),
    ("payment_gateway", sa.String(length=50), None, True),
    ("amount", sa.Numeric(12, 2), None, True),
    ("currency", sa.String(length=3), None, True),
    ("current_period", sa.Integer(), sa.text("0"), False),
    ("next_charge_at", sa.DateTime(timezone=True), None, True),
    ("next_charge_amount", sa.Numeric(12, 2), None, True),
    ("cancelled_at", sa.DateTime(timezone=True), None, True),
    ("gateway_customer_id", sa.String(length=255), None, True),
    ("gateway_payment_method_id", sa.String(length=255), None, True),
    ("card_last4", sa.String(length=4), None, True),
    ("pending_change", postgresql.JSONB(astext_type=sa.Text()), None, True),
    ("dunning", postgresql.JSONB(astext_type=sa.Text()), None, True),
)


def _link(table: str) -> None:
    op.add_column(table, sa.Column("subscription_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f(f"fk_{table}_subscription_id_subscriptions"),
        table,
        "subscriptions",
        ["subscription_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_index(op.f(f"ix_{table}_subscription_id"), table, ["subscription_id"])
    op.alter_column(table, "patient_id", existing_type=sa.UUID(), nullable=True)
    op.create_check_constraint(
        op.f(f"ck_{table}_patient_or_subscription"),
        table,
        "patient_id IS NOT NULL OR subscription_id IS NOT NULL",
    )


def upgrade() -> None:
    for name, type_, default, nullable in SUBSCRIPTION_COLUMNS:
        op.add_column(
            "subscriptions",
            sa.Column(name, type_, server_default=default, nullable=nullable),
        )
    _link("payments")
    _link("invoices")
    op.drop_constraint(op.f("ck_payments_pays_for_something"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_pays_for_something"),
        "payments",
        "booking_id IS NOT NULL OR appointment_id IS NOT NULL OR subscription_id IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_pays_for_something"), "payments", type_="check")
    op.execute("DELETE FROM payments WHERE subscription_id IS NOT NULL")
    op.execute("DELETE FROM invoices WHERE subscription_id IS NOT NULL")
    op.create_check_constraint(
        op.f("ck_payments_pays_for_something"),
        "payments",
        "booking_id IS NOT NULL OR appointment_id IS NOT NULL",
    )
    for table in ("invoices", "payments"):
        op.drop_constraint(op.f(f"ck_{table}_patient_or_subscription"), table, type_="check")
        op.alter_column(table, "patient_id", existing_type=sa.UUID(), nullable=False)
        op.drop_index(op.f(f"ix_{table}_subscription_id"), table_name=table)
        op.drop_constraint(
            op.f(f"fk_{table}_subscription_id_subscriptions"), table, type_="foreignkey"
        )
        op.drop_column(table, "subscription_id")
    for name, *_ in reversed(SUBSCRIPTION_COLUMNS):
        op.drop_column("subscriptions", name)
