"""Translations as workflows: each translation row gets its status (with a history), the hash of
the source it follows, its reviewer and reason, and the text the public reads; the characters
sent to each engine are kept for the monthly budget; treatments get preparation and aftercare.
Rows stored before this were written by people: they become approved and published.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ", ".join(
    f"'{s}'"
    for s in (
        "pending",
        "machine_translated",
        "in_review",
        "approved",
        "rejected",
        "stale",
        "withdrawn",
    )
)


def upgrade() -> None:
    op.create_table(
        "translation_charges",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engine", sa.String(length=50), nullable=False),
        sa.Column("translation_id", sa.UUID(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("characters", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "characters >= 0", name=op.f("ck_translation_charges_characters_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["translation_id"],
            ["translations.id"],
            name=op.f("fk_translation_charges_translation_id_translations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation_charges")),
        sa.UniqueConstraint(
            "engine",
            "translation_id",
            "source_hash",
            name=op.f("uq_translation_charges_engine_translation_id_source_hash"),
        ),
    )
    op.create_index(
        op.f("ix_translation_charges_engine_month"),
        "translation_charges",
        ["engine", "month"],
        unique=False,
    )
    op.create_table(
        "translation_status_history",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("translation_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=50), nullable=True),
        sa.Column("to_status", sa.String(length=50), nullable=False),
        sa.Column("changed_by_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_role", sa.String(length=50), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "actor_role IS NULL OR actor_role IN "
            "('admin', 'hospital_admin', 'doctor', 'patient', 'coordinator', 'system')",
            name=op.f("ck_translation_status_history_actor_role_allowed"),
        ),
        sa.CheckConstraint(
            f"from_status IS NULL OR from_status IN ({STATUSES})",
            name=op.f("ck_translation_status_history_from_status_allowed"),
        ),
        sa.CheckConstraint(
            f"to_status IN ({STATUSES})",
            name=op.f("ck_translation_status_history_to_status_allowed"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_translation_status_history_seq_positive")),
        sa.ForeignKeyConstraint(
            ["changed_by_user_id"],
            ["users.id"],
            name=op.f("fk_translation_status_history_changed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["translation_id"],
            ["translations.id"],
            name=op.f("fk_translation_status_history_translation_id_translations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation_status_history")),
        sa.UniqueConstraint(
            "translation_id", "seq", name=op.f("uq_translation_status_history_translation_id_seq")
        ),
    )
    op.create_index(
        op.f("ix_translation_status_history_changed_by_user_id"),
        "translation_status_history",
        ["changed_by_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_translation_status_history_created_at"),
        "translation_status_history",
        ["created_at"],
        unique=False,
    )
    op.add_column("translations", sa.Column("published_text", sa.Text(), nullable=True))
    op.add_column(
        "translations",
        sa.Column("status", sa.String(length=50), server_default="pending", nullable=False),
    )
    op.add_column(
        "translations",
        sa.Column("status_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("translations", sa.Column("source_hash", sa.String(length=64), nullable=True))
    op.add_column("translations", sa.Column("engine", sa.String(length=50), nullable=True))
    op.add_column("translations", sa.Column("reviewed_by_user_id", sa.UUID(), nullable=True))
    op.add_column("translations", sa.Column("reason", sa.Text(), nullable=True))
    op.alter_column("translations", "translated_text", existing_type=sa.TEXT(), nullable=True)
    op.create_index(
        op.f("ix_translations_reviewed_by_user_id"),
        "translations",
        ["reviewed_by_user_id"],
        unique=False,
    )
    op.create_index(op.f("ix_translations_status"), "translations", ["status"], unique=False)
    op.create_foreign_key(
        op.f("fk_translations_reviewed_by_user_id_users"),
        "translations",
        "users",
        ["reviewed_by_user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        op.f("ck_translations_status_allowed"), "translations", f"status IN ({STATUSES})"
    )
    op.create_check_constraint(
        op.f("ck_translations_status_seq_non_negative"), "translations", "status_seq >= 0"
    )
    op.execute(
        "UPDATE translations SET status = 'approved', published_text = translated_text "
        "WHERE translated_text IS NOT NULL"
    )
    op.add_column("treatments", sa.Column("preparation", sa.Text(), nullable=True))
    op.add_column("treatments", sa.Column("aftercare", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("treatments", "aftercare")
    op.drop_column("treatments", "preparation")
    op.drop_constraint(op.f("ck_translations_status_seq_non_negative"), "translations")
    op.drop_constraint(op.f("ck_translations_status_allowed"), "translations")
    op.execute("DELETE FROM translations WHERE translated_text IS NULL")
    op.drop_constraint(
        op.f("fk_translations_reviewed_by_user_id_users"), "translations", type_="foreignkey"
    )
    op.drop_index(op.f("ix_translations_status"), table_name="translations")
    op.drop_index(op.f("ix_translations_reviewed_by_user_id"), table_name="translations")
    op.alter_column("translations", "translated_text", existing_type=sa.TEXT(), nullable=False)
    op.drop_column("translations", "reason")
    op.drop_column("translations", "reviewed_by_user_id")
    op.drop_column("translations", "engine")
    op.drop_column("translations", "source_hash")
    op.drop_column("translations", "status_seq")
    op.drop_column("translations", "status")
    op.drop_column("translations", "published_text")
    op.drop_index(
        op.f("ix_translation_status_history_created_at"), table_name="translation_status_history"
    )
    op.drop_index(
        op.f("ix_translation_status_history_changed_by_user_id"),
        table_name="translation_status_history",
    )
    op.drop_table("translation_status_history")
    op.drop_index(op.f("ix_translation_charges_engine_month"), table_name="translation_charges")
    op.drop_table("translation_charges")
