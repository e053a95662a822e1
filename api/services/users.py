"""User administration: list, read, create, change, activate, deactivate, delete."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.users import UserFilters
from api.services.auth import ensure_unique, revoke_all
from domain.errors import Conflict, Invalid, NotFound
from domain.models.users import User


async def list_users(
    db: AsyncSession, filters: UserFilters, *, offset: int, limit: int
) -> tuple[list[User], int]:
    conditions: list[Any] = []
    if filters.user_type is not None:
        conditions.append(User.user_type == filters.user_type.value)
    if filters.is_active is not None:
        conditions.append(User.is_active.is_(filters.is_active))
    if filters.search:
        escaped = filters.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                User.email.ilike(pattern, escape="\\"),
                User.first_name.ilike(pattern, escape="\\"),
                User.last_name.ilike(pattern, escape="\\"),
            )
        )
    total = await db.scalar(select(func.count()).select_from(User).where(*conditions))
    rows = await db.scalars(
        select(User)
        .where(*conditions)
        .order_by(User.created_at.desc(), User.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("User not found", code="USER_NOT_FOUND")
    return user


async def update_user(db: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    await ensure_unique(db, changes.get("email"), changes.get("phone"), exclude=user.id)
    for key, value in changes.items():
        if value is None and key in ("email", "user_type", "is_verified", "is_approved", "locale"):
            continue  # these cannot be emptied
        setattr(user, key, value.value if hasattr(value, "value") else value)
    await db.flush()
    await db.refresh(user)
    return user


async def set_active(db: AsyncSession, actor: User, user: User, active: bool) -> User:
    if not active and user.id == actor.id:
        raise Invalid("You cannot deactivate your own account", code="CANNOT_DEACTIVATE_SELF")
    user.is_active = active
    if not active:
        await revoke_all(db, user.id)  # sessions end now, not when their tokens expire
    await db.flush()
    await db.refresh(user)
    return user


async def delete_user(db: AsyncSession, actor: User, user: User) -> None:
    if user.id == actor.id:
        raise Invalid("You cannot delete your own account", code="CANNOT_DELETE_SELF")
    try:
        async with db.begin_nested():
            await db.delete(user)
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This user has bookings, payments or other records that must be kept; "
            "deactivate the account instead",
            code="USER_HAS_RECORDS",
        ) from exc
