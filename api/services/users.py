"""User administration: list, read, create, change, activate, deactivate, delete."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.schemas.users import UserFilters
from api.services import notifications as notices
from api.services.auth import ensure_role_record, ensure_unique, request_email_change, revoke_all
from domain.access import Role, RoleHoldings, role_change_blockers
from domain.booking import TERMINAL
from domain.errors import Conflict, Invalid, NotFound
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.users import Patient, User
from runtime.settings import Settings


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


async def holdings_of(db: AsyncSession, user: User) -> RoleHoldings:
    hospitals = await db.scalar(
        select(func.count()).select_from(Hospital).where(Hospital.admin_user_id == user.id)
    )
    bookings = await db.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.coordinator_id == user.id,
            Booking.status.not_in([s.value for s in TERMINAL]),
        )
    )
    return RoleHoldings(
        patient_profile=await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
        is not None,
        doctor_profile=await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))
        is not None,
        administered_hospitals=int(hospitals or 0),
        coordinated_open_bookings=int(bookings or 0),
    )


BLOCKER_TEXT = {
    "patient_profile": "a patient profile",
    "doctor_profile": "a doctor profile",
    "administered_hospitals": "hospitals they administer",
    "coordinated_open_bookings": "open bookings they coordinate",
}


async def check_role_change(db: AsyncSession, user: User, new_role: Role) -> None:
    """409 ROLE_CHANGE_ORPHANS_PROFILE when the move would leave a profile, a hospital or a
    booking with a user of the wrong role (access.role_change_blockers)."""
    if new_role == user.user_type:
        return
    blockers = role_change_blockers(new_role, await holdings_of(db, user))
    if blockers:
        raise Conflict(
            f"This {user.user_type} cannot become {new_role.value}: they hold "
            + ", ".join(BLOCKER_TEXT[b] for b in blockers)
            + ". Delete or hand these over first, or create a separate account.",
            code="ROLE_CHANGE_ORPHANS_PROFILE",
            details={"from": user.user_type, "to": new_role.value, "held": blockers},
        )


async def update_user(db: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    """Everything but the e-mail (see auth.request_email_change); a role change only when
    nothing of the old role is left behind, and the new role gets its profile."""
    await ensure_unique(db, None, changes.get("phone"), exclude=user.id)
    new_role = changes.get("user_type")
    old_role = user.user_type
    if new_role is not None:
        await check_role_change(db, user, Role(new_role))
    for key, value in changes.items():
        if value is None and key in ("email", "user_type", "is_verified", "is_approved", "locale"):
            continue  # these cannot be emptied
        if key == "email":
            continue  # verified first: auth.request_email_change
        setattr(user, key, value.value if hasattr(value, "value") else value)
    await db.flush()
    if new_role is not None:
        await ensure_role_record(db, user)
    if new_role is not None and new_role != old_role:
        # Sessions of the old role end now: its access tokens (they carry the role) and its
        # refresh families; the user logs in again in the new role.
        await revoke_all(db, user.id)
    await db.refresh(user)
    return user


EMAIL_CHANGE_SENT = (
    "; the e-mail changes once the link sent to the new address is confirmed "
    "(until then the current address stays the login)"
)


async def change_email(
    db: AsyncSession, temporal: Client, settings: Settings, user: User, email: str
) -> bool:
    """Ask for an e-mail change (verified before it takes effect) and send the link to the new
    address once the request is durable. Whether a link is on its way."""
    sent = await request_email_change(db, settings, user, email)
    await db.commit()
    if sent is None:
        return False
    verification_id, token = sent
    await notices.send_verification(temporal, settings, user, verification_id, token)
    return True


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
