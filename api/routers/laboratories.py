"""/laboratories: labs that run patients' tests, on their own or inside a hospital.

Reading takes a login; inactive labs are hidden except from admins and, for their own hospital's
labs, its hospital_admin. An admin manages every lab. An approved hospital_admin creates, changes
and deletes the labs of the hospitals they administer, and cannot move a lab to a hospital they
do not administer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import policies
from api.deps import CurrentUser, DbSession, Paging, RequestLocale
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    create_row,
    creator,
    delete_row,
    get_visible,
    list_page,
    render_one,
    update_row,
)
from api.schemas.laboratories import (
    LaboratoryCreate,
    LaboratoryFilters,
    LaboratoryOut,
    LaboratoryUpdate,
)
from domain.access import Role
from domain.errors import Forbidden
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
            select(Hospital.id).where(
                Hospital.id == hospital_id, policies.hospital_scope(user, Hospital.id)
            )
        )
        if hospital_id is None or mine is None:
            raise Forbidden(
                "A hospital administrator manages only the labs of their own hospital",
                code="NOT_HOSPITAL_ADMIN",
                details={"field": "hospital_id"},
            )

    def check_may_create(self, user: User) -> None:
        if user.user_type != Role.ADMIN and not _hospital_admin(user):
            raise Forbidden("Your role may not create this", code="ROLE_NOT_ALLOWED")

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        self.check_may_create(user)
        await self.check_hospital(db, user, data.get("hospital_id"))

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if not _hospital_admin(user):
            raise Forbidden("Your role may not change this", code="ROLE_NOT_ALLOWED")
        await self.check_hospital(db, user, row.hospital_id)

    async def before_update(
        self, db: AsyncSession, user: User, row: Any, data: dict[str, Any]
    ) -> None:
        """A lab moves only to a hospital the caller administers too."""
        if "hospital_id" in data:
            await self.check_hospital(db, user, data["hospital_id"])


laboratories = Resource(
    model=Laboratory,
    name="laboratory",
    out=LaboratoryOut,
    access=LaboratoryAccess(),
    filter_rules={
        "country": lambda v: func.lower(Laboratory.country) == v.lower(),
        "city": lambda v: func.lower(Laboratory.city) == v.lower(),
        "type": lambda v: func.lower(Laboratory.type) == v.lower(),
    },
    search=(Laboratory.name, Laboratory.city, Laboratory.services_offered),
    sortable=("created_at", "name", "country", "city"),
)

TAG = {"name": "laboratories", "description": "Laboratories"}

router = APIRouter(prefix="/laboratories", tags=["laboratories"])
Sort = Annotated[str | None, Query(pattern=laboratories.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List laboratories", name="list_laboratory")
async def list_laboratories(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[LaboratoryFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[LaboratoryOut]:
    return await list_page(db, laboratories, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One laboratory", name="get_laboratory")
async def get_laboratory(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[LaboratoryOut]:
    row = await get_visible(db, laboratories, user, row_id)
    return ok(await render_one(db, laboratories, row, locale))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a laboratory", name="create_laboratory"
)
async def create_laboratory(
    user: Annotated[User, Depends(creator(laboratories))], body: LaboratoryCreate, db: DbSession
) -> Envelope[LaboratoryOut]:
    row = await create_row(db, laboratories, user, body.model_dump(exclude_unset=True))
    return ok(LaboratoryOut.model_validate(row), "Laboratory created")


@router.patch(
    "/{id}",
    summary="Change a laboratory (admin, its hospital's admin)",
    name="update_laboratory",
)
async def update_laboratory(
    row: Annotated[Laboratory, Depends(changeable(laboratories))],
    body: LaboratoryUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[LaboratoryOut]:
    await update_row(db, laboratories, user, row, body.model_dump(exclude_unset=True))
    return ok(LaboratoryOut.model_validate(row), "Laboratory updated")


@router.delete("/{id}", summary="Delete a laboratory", name="delete_laboratory")
async def delete_laboratory(
    row: Annotated[Laboratory, Depends(changeable(laboratories))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, laboratories, user, row))
