"""A sequence for readable invoice numbers (MV-INV-<year>-<000123>).

Revision ID: 0004
Revises: 0004
Create Date: 2026-03-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nextval() is not rolled back: a failed or retried request leaves a gap in the numbers,
    # never a duplicate. The unique invoice_number is the guarantee; the sequence keeps it cheap.
    op.execute("CREATE SEQUENCE IF NOT EXISTS invoice_number_seq AS bigint START 1")


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS invoice_number_seq")
