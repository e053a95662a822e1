"""The daily analytics roll-up: one row per (day, scope, metric, key, currency), written by the
roll-up activity, and the days it has rolled up (so a day with no activity reads as zero, not as
missing). Past days of every analytics answer come from here; today is computed live."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column


class AnalyticsDaily(Base):
    """A figure of one day (in the roll-up zone). `hospital_id` NULL is the whole platform;
    a hospital's rows count only what belongs to it. `currency` is set on money rows only
    ('' otherwise): amounts are never summed across currencies."""

    __tablename__ = "analytics_daily"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "hospital_id",
            "metric",
            "key",
            "currency",
            postgresql_nulls_not_distinct=True,
        ),
        # A scope's rows of the metrics an answer reads, day by day, from the index alone.
        Index(
            "ix_analytics_daily_hospital_id_metric_day",
            "hospital_id",
            "metric",
            "day",
            postgresql_include=["key", "currency", "count", "amount"],
        ),
    )

    # uuid5 of the row's identity: a day rolled up twice has the very same rows.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(index=True)
    hospital_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE")
    )
    metric: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(100), server_default=text("''"))
    currency: Mapped[str] = mapped_column(String(3), server_default=text("''"))
    count: Mapped[int] = mapped_column(server_default=text("0"))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = created_at_column()


class AnalyticsDay(Base):
    """A day the roll-up has computed, in which zone, and when; `stale` when it must be redone."""

    __tablename__ = "analytics_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(server_default=text("0"))
    computed_at: Mapped[datetime] = created_at_column()
    # Something the day's figures count changed after it was rolled up (an appointment of that
    # day moved): answers compute it live until the next scheduled run rolls it up again.
    stale: Mapped[bool] = mapped_column(server_default=text("false"))
