"""Notifications may travel by push (FCM to the user's registered devices): the channel check
allows 'push'.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = ("email", "sms", "whatsapp", "in_app", "push")
OLD = ("email", "sms", "whatsapp", "in_app")


def _recheck(channels: tuple[str, ...]) -> None:
    name = op.f("ck_notifications_channel_allowed")
    op.drop_constraint(name, "notifications", type_="check")
    listed = ", ".join(f"'{c}'" for c in channels)
    op.create_check_constraint(name, "notifications", f"channel IN ({listed})")


def upgrade() -> None:
    _recheck(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE channel = 'push'")
    _recheck(OLD)
