"""/subscription-plans: the plans hospitals and doctors subscribe to. Anyone reads the plans on
sale; admins create, change and retire them. A retired plan is never deleted: its subscribers
keep it until they change plan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, DbSession, MaybeUser, Paging
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
    get_visible,
    list_page,
    update_row,
)
from api.schemas.subscriptions import PlanCreate, PlanFilters, PlanOut, PlanUpdate
from domain.access import Role
from domain.models.subscriptions import SubscriptionPlan
from domain.models.users import User
from domain.subscription import PlanTarget


class PlanAccess(Access[SubscriptionPlan]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(SubscriptionPlan.is_active.is_(True))

    async def before_update(
        self, db: AsyncSession, user: User, row: Any, data: dict[str, Any]
    ) -> None:
        monthly = data.get("price_monthly", row.price_monthly)
        yearly = data.get("price_yearly", row.price_yearly)
        problems = []
        if monthly is None and yearly is None:
            problems.append(
                ("price_monthly", "a plan keeps a monthly price, a yearly price or both")
            )
        max_doctors = data.get("max_doctors", row.max_doctors)
        if row.target_user == PlanTarget.DOCTOR and max_doctors is not None:
            problems.append(("max_doctors", "a doctor's plan has no doctors to bound"))
        if problems:
            raise RequestValidationError(
                [
                    {"type": "value_error", "loc": ("body", field), "msg": msg, "input": None}
                    for field, msg in problems
                ]
            )


plans = Resource(
    model=SubscriptionPlan,
    name="subscription plan",
    out=PlanOut,
    access=PlanAccess(),
    search=(SubscriptionPlan.name, SubscriptionPlan.plan_type),
    sortable=("price_monthly", "price_yearly", "name", "created_at"),
    default_sort="price_monthly",
)

TAG = {"name": "subscription-plans", "description": "Plans hospitals and doctors subscribe to"}
router = APIRouter(prefix="/subscription-plans", tags=["subscription-plans"])
Sort = Annotated[str | None, Query(pattern=plans.sort_pattern, description=SORT_HELP)]


@router.get("", summary="The plans on sale (admins: retired ones too)", name="list_plans")
async def list_plans(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    filters: Annotated[PlanFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[PlanOut]:
    return await list_page(db, plans, user, paging, None, filters, search, sort)


@router.get("/{id}", summary="One plan", name="get_plan")
async def get_plan(row_id: RowId, db: DbSession, user: MaybeUser) -> Envelope[PlanOut]:
    return ok(PlanOut.model_validate(await get_visible(db, plans, user, row_id)))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a plan", name="create_plan")
async def create_plan(
    user: Annotated[User, Depends(creator(plans))], body: PlanCreate, db: DbSession
) -> Envelope[PlanOut]:
    row = await create_row(db, plans, user, body.model_dump(exclude_unset=True))
    return ok(PlanOut.model_validate(row), "Subscription plan created")


@router.patch("/{id}", summary="Change a plan", name="update_plan")
async def update_plan(
    row: Annotated[SubscriptionPlan, Depends(changeable(plans))],
    body: PlanUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[PlanOut]:
    await update_row(db, plans, user, row, body.model_dump(exclude_unset=True))
    return ok(PlanOut.model_validate(row), "Subscription plan updated")


@router.delete("/{id}", summary="Retire a plan (its subscribers keep it)", name="retire_plan")
async def retire_plan(
    row: Annotated[SubscriptionPlan, Depends(changeable(plans))], db: DbSession, user: CurrentUser
) -> Envelope[PlanOut]:
    await update_row(db, plans, user, row, {"is_active": False})
    return ok(PlanOut.model_validate(row), "Subscription plan retired: its subscribers keep it")
