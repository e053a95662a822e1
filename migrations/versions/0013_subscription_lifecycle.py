"""Subscriptions wait for their first payment as `incomplete` (was `pending`): the statuses of
the subscription lifecycle in domain/subscription.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = ("incomplete", "active", "past_due", "cancelled", "expired")
OLD = ("pending", "active", "past_due", "cancelled", "expired")
CHECKS = (
    ("subscriptions", "status", False),
    ("subscription_status_history", "from_status", True),
    ("subscription_status_history", "to_status", False),
)


def _recheck(statuses: tuple[str, ...], before: str, after: str) -> None:
    listed = ", ".join(f"'{s}'" for s in statuses)
    for table, column, nullable in CHECKS:
        op.drop_constraint(op.f(f"ck_{table}_{column}_allowed"), table, type_="check")
        op.execute(f"UPDATE {table} SET {column} = '{after}' WHERE {column} = '{before}'")
        condition = f"{column} IN ({listed})"
        if nullable:
            condition = f"{column} IS NULL OR {condition}"
        op.create_check_constraint(op.f(f"ck_{table}_{column}_allowed"), table, condition)
    op.alter_column("subscriptions", "status", server_default=after)


def upgrade() -> None:
    _recheck(NEW, "pending", "incomplete")


def downgrade() -> None:
    _recheck(OLD, "incomplete", "pending")
