"""Hospitals carry their review rating and count, like doctors.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "hospitals",
        sa.Column("rating", sa.Numeric(3, 2), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "hospitals",
        sa.Column("total_reviews", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    # Named through the metadata's convention: ck_hospitals_<name>.
    op.create_check_constraint("rating_range", "hospitals", "rating >= 0 AND rating <= 5")
    op.create_check_constraint("total_reviews_non_negative", "hospitals", "total_reviews >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_hospitals_total_reviews_non_negative"), "hospitals", type_="check")
    op.drop_constraint(op.f("ck_hospitals_rating_range"), "hospitals", type_="check")
    op.drop_column("hospitals", "total_reviews")
    op.drop_column("hospitals", "rating")
