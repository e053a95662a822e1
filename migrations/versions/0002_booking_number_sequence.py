"""A sequence for readable booking numbers (MV-BK-<year>-<000123>).

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nextval() is not rolled back: a failed or retried request leaves a gap in the numbers,
    # never a duplicate. The unique booking_number is the guarantee; the sequence keeps it cheap.
    op.execute("CREATE SEQUENCE IF NOT EXISTS booking_number_seq AS bigint START 1")


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS booking_number_seq")
