"""/laboratories: labs that run patients' tests, on their own or inside a hospital.

Reading takes a login; inactive labs are hidden except from admins and, for their own hospital's
labs, its hospital_admin. An admin manages every lab. An approved hospital_admin creates, changes
and deletes the labs of the hospitals they administer, and cannot move a lab to a hospital they
do not administer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.crud import Access, Resource, RowId, check_writable, crud_router, get_visible
from api.deps import CurrentUser, DbSession
from api.envelope import Envelope, ok
from api.schemas.laboratories import (
    LaboratoryCreate,
    LaboratoryFilters,
    LaboratoryOut,
    LaboratoryUpdate,
)
from domain.access import Role
from domain.errors import Conflict, Forbidden
from domain.models.catalog import Hospital, Laboratory
from domain.models.users import User


def _administered(user: User) -> Select[Any]:
    return select(Hospital.id).where(Hospital.admin_user_id == user.id)


def _hospital_admin(user: User) -> bool:
    return user.user_type == Role.HOSPITAL_ADMIN and user.is_approved


class LaboratoryAccess(Access[Laboratory]):
    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        active = Laboratory.is_active.is_(True)
        if user is not None and user.user_type == Role.HOSPITAL_ADMIN:
            return stmt.where(or_(active, Laboratory.hospital_id.in_(_administered(user))))
        return stmt.where(active)

    def writable_fields(self, user: User) -> set[str] | None:
        return None if user.user_type == Role.ADMIN or _hospital_admin(user) else set()

    async def check_hospital(self, db: AsyncSession, user: User, hospital_id: Any) -> None:
        """A hospital_admin's lab belongs to a hospital they administer."""
        if user.user_type == Role.ADMIN:
            return
        mine = await db.scalar(
            select(Hospital.id).where(Hospital.id == hospital_id, Hospital.admin_user_id == user.id)
        )
        if hospital_id is None or mine is None:
            raise Forbidden(
                "A hospital administrator manages only the labs of their own hospital",
                code="NOT_HOSPITAL_ADMIN",
                details={"field": "hospital_id"},
            )

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        if user.user_type == Role.ADMIN:
            return
        if not _hospital_admin(user):
            raise Forbidden("Your role may not create this", code="ROLE_NOT_ALLOWED")
        await self.check_hospital(db, user, data.get("hospital_id"))

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if not _hospital_admin(user):
            raise Forbidden("Your role may not change this", code="ROLE_NOT_ALLOWED")
        await self.check_hospital(db, user, row.hospital_id)


laboratories = Resource(
    model=Laboratory,
    name="laboratory",
    out=LaboratoryOut,
    create=LaboratoryCreate,
    update=LaboratoryUpdate,
    access=LaboratoryAccess(),
    filters=LaboratoryFilters,
    filter_rules={
        "country": lambda v: func.lower(Laboratory.country) == v.lower(),
        "city": lambda v: func.lower(Laboratory.city) == v.lower(),
        "type": lambda v: func.lower(Laboratory.type) == v.lower(),
    },
    search=(Laboratory.name, Laboratory.city, Laboratory.services_offered),
    sortable=("created_at", "name", "country", "city"),
)
access: LaboratoryAccess = laboratories.access  # type: ignore[assignment]

TAG = {"name": "laboratories", "description": "Laboratories"}
ORDER = 14

# Update is below: it also checks the hospital a lab is moved to.
router = crud_router(
    laboratories,
    prefix="/laboratories",
    tag="laboratories",
    ops=("list", "get", "create", "delete"),
)


@router.patch(
    "/{id}",
    response_model=Envelope[LaboratoryOut],
    summary="Change a laboratory (admin, its hospital's admin)",
    name="update_laboratory",
)
async def update_laboratory(
    row_id: RowId, body: LaboratoryUpdate, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    lab = await get_visible(db, laboratories, user, row_id)
    await access.before_change(db, user, lab)
    data = body.model_dump(exclude_unset=True)
    check_writable(laboratories, user, data)
    if "hospital_id" in data:
        await access.check_hospital(db, user, data["hospital_id"])
    for key, value in data.items():
        setattr(lab, key, value)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This laboratory refers to a hospital that does not exist",
            code="LABORATORY_CONFLICT",
        ) from exc
    return ok(LaboratoryOut.model_validate(lab).model_dump(mode="python"), "Laboratory updated")
