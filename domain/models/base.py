"""The declarative base every model shares: UUID keys, timestamptz, Decimal money, JSONB."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, MetaData, Numeric, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
        date: Date(),
        Decimal: Money,
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }
    # Server-generated values (created_at, updated_at) come back with RETURNING on every
    # INSERT and UPDATE, so reading them after a flush never needs hidden (async-unsafe) I/O.
    __mapper_args__ = {"eager_defaults": True}


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


def created_at_column() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), nullable=False)


def updated_at_column() -> Mapped[datetime]:
    # A database trigger (see the migration) also keeps it current for writes outside the ORM.
    return mapped_column(server_default=func.now(), onupdate=func.now(), nullable=False)


def one_of(column: str, values: Iterable[str], *, nullable: bool = True) -> CheckConstraint:
    """CHECK that an enumerated column holds one of its allowed values."""
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_allowed")
