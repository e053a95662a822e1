"""The shape every status history table shares: one row per transition, numbered per entity."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.access import Role
from domain.lifecycle import SYSTEM
from domain.models.base import created_at_column, one_of

# Who moved it: a person in one of the roles, or the platform itself (a timer, a gateway webhook).
ACTOR_ROLES: tuple[str, ...] = (*(r.value for r in Role), SYSTEM)


class StatusHistory:
    """Columns of a history table; the subclass adds its entity's foreign key."""

    # sort_order puts the key first and the subclass's entity column right after it.
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True,
        default=uuid.uuid4,
        server_default=text("gen_random_uuid()"),
        sort_order=-1,
    )
    # 1, 2, 3… per entity; the unique (entity, seq) makes a retried write a no-op, not a duplicate.
    seq: Mapped[int]
    from_status: Mapped[str | None] = mapped_column(String(50))
    to_status: Mapped[str] = mapped_column(String(50))
    changed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_role: Mapped[str | None] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


def history_table_args(entity_column: str, statuses: Iterable[str]) -> tuple[Any, ...]:
    allowed = list(statuses)
    return (
        UniqueConstraint(entity_column, "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        one_of("from_status", allowed),
        one_of("to_status", allowed, nullable=False),
        one_of("actor_role", ACTOR_ROLES),
        Index(None, "created_at"),
    )
