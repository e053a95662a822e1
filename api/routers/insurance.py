"""/insurance: the insurance providers patients can name. Reading takes a login (it is not part
of the public catalog; patients and staff pick from it in forms); writing takes an admin.
Inactive providers are hidden from everyone but admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select, func

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
from api.schemas.insurance import InsuranceCreate, InsuranceFilters, InsuranceOut, InsuranceUpdate
from domain.access import Role
from domain.models.catalog import Insurance
from domain.models.users import User


class InsuranceAccess(Access[Insurance]):
    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Insurance.is_active.is_(True))


insurance = Resource(
    model=Insurance,
    name="insurance",
    out=InsuranceOut,
    access=InsuranceAccess(),
    filter_rules={"country": lambda v: func.lower(Insurance.country) == v.lower()},
    search=(Insurance.provider_name, Insurance.country),
    sortable=("created_at", "provider_name", "country"),
)

TAG = {"name": "insurance", "description": "Insurance providers"}

router = APIRouter(prefix="/insurance", tags=["insurance"])
Sort = Annotated[str | None, Query(pattern=insurance.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List insurance", name="list_insurance")
async def list_insurance_providers(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[InsuranceFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[InsuranceOut]:
    return await list_page(db, insurance, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One insurance", name="get_insurance")
async def get_insurance(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[InsuranceOut]:
    return ok(
        await render_one(db, insurance, await get_visible(db, insurance, user, row_id), locale)
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a insurance", name="create_insurance"
)
async def create_insurance(
    user: Annotated[User, Depends(creator(insurance))], body: InsuranceCreate, db: DbSession
) -> Envelope[InsuranceOut]:
    row = await create_row(db, insurance, user, body.model_dump(exclude_unset=True))
    return ok(InsuranceOut.model_validate(row), "Insurance created")


@router.patch("/{id}", summary="Change a insurance", name="update_insurance")
async def update_insurance(
    row: Annotated[Insurance, Depends(changeable(insurance))],
    body: InsuranceUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[InsuranceOut]:
    await update_row(db, insurance, user, row, body.model_dump(exclude_unset=True))
    return ok(InsuranceOut.model_validate(row), "Insurance updated")


@router.delete("/{id}", summary="Delete a insurance", name="delete_insurance")
async def delete_insurance(
    row: Annotated[Insurance, Depends(changeable(insurance))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, insurance, user, row))
