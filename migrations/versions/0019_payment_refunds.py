"""Each refund of a payment on its own row (payment_refunds), so the analytics roll-up subtracts
every partial refund on the day it was made; and analytics_days.stale, a rolled-up day whose
figures changed since (an appointment of that day moved), computed live until rolled up again.

Existing refunds are backfilled from what the payment holds: the refund log its workflow keeps in
the metadata (each refund's amount and instant) when it adds up to refund_amount, else one row of
the whole refund_amount on refund_date.

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUND_STATUSES = ("refunded", "partially_refunded")


def _logged(meta: Any, total: Decimal) -> list[tuple[Decimal, datetime]] | None:
    """The refund log's (amount, instant) pairs when they account for the whole total."""
    entries = (meta or {}).get("refund_log") if isinstance(meta, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    found: list[tuple[Decimal, datetime]] = []
    try:
        for entry in entries:
            amount = Decimal(str(entry["amount"]))
            moment = datetime.fromisoformat(str(entry["at"]))
            if amount <= 0 or moment.tzinfo is None:
                return None
            found.append((amount, moment))
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    return found if sum(a for a, _ in found) == total else None


def _backfill() -> None:
    bind = op.get_bind()
    payments = bind.execute(
        sa.text(
            "SELECT id, currency, refund_amount, refund_date, status_seq, metadata FROM payments "
            "WHERE refund_amount > 0 AND refund_date IS NOT NULL"
        )
    ).all()
    for payment_id, currency, total, last, status_seq, meta in payments:
        seqs = list(
            bind.execute(
                sa.text(
                    "SELECT seq FROM payment_status_history WHERE payment_id = :id "
                    "AND to_status IN :statuses ORDER BY seq"
                ).bindparams(sa.bindparam("statuses", expanding=True)),
                {"id": payment_id, "statuses": list(REFUND_STATUSES)},
            ).scalars()
        )
        logged = _logged(meta, Decimal(total))
        rows = (
            [(seq, amount, moment) for seq, (amount, moment) in zip(seqs, logged, strict=True)]
            if logged is not None and len(logged) == len(seqs)
            else [(seqs[-1] if seqs else max(status_seq, 1), Decimal(total), last)]
        )
        for seq, amount, moment in rows:
            bind.execute(
                sa.text(
                    "INSERT INTO payment_refunds (payment_id, seq, amount, currency, refunded_at) "
                    "VALUES (:id, :seq, :amount, :currency, :at) ON CONFLICT DO NOTHING"
                ),
                {"id": payment_id, "seq": seq, "amount": amount, "currency": currency, "at": moment},
            )


def upgrade() -> None:
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("payment_id", "seq", name=op.f("uq_payment_refunds_payment_id_seq")),
    )
    op.create_index(op.f("ix_payment_refunds_refunded_at"), "payment_refunds", ["refunded_at"])
    op.add_column(
        "analytics_days",
        sa.Column("stale", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    _backfill()


def downgrade() -> None:
    op.drop_column("analytics_days", "stale")
    op.drop_index(op.f("ix_payment_refunds_refunded_at"), table_name="payment_refunds")
    op.drop_table("payment_refunds")
