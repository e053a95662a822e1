"""Booking lists read an index in their order: (created_at, id), and the same after patient,
hospital or status (the scopes and filters of GET /bookings); they replace the single-column
indexes on those columns, which they also serve (measured by `make bench`, bench/README.md).

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# new index -> (columns, the single-column index it replaces)
INDEXES = {
    "ix_bookings_created_at_id": (["created_at", "id"], "ix_bookings_created_at", "created_at"),
    "ix_bookings_patient_id_created_at": (
        ["patient_id", "created_at", "id"],
        "ix_bookings_patient_id",
        "patient_id",
    ),
    "ix_bookings_hospital_id_created_at": (
        ["hospital_id", "created_at", "id"],
        "ix_bookings_hospital_id",
        "hospital_id",
    ),
    "ix_bookings_status_created_at": (
        ["status", "created_at", "id"],
        "ix_bookings_status",
        "status",
    ),
}


def upgrade() -> None:
    for name, (columns, old, _) in INDEXES.items():
        op.create_index(name, "bookings", columns)
        op.drop_index(old, table_name="bookings")


def downgrade() -> None:
    for name, (_, old, column) in INDEXES.items():
        op.create_index(old, "bookings", [column])
        op.drop_index(name, table_name="bookings")
