"""/coupons: admins manage coupons; anyone logged in checks a code against an amount."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, DbSession, Paging, RequestLocale
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    Search,
    changeable,
    create_row,
    creator,
    delete_row,
    list_page,
    update_row,
)
from api.schemas.payments import (
    CouponCheckOut,
    CouponCreate,
    CouponOut,
    CouponUpdate,
    percentage_fits,
    validity_ordered,
)
from domain.coupons import CouponRefusal, CouponRefusalCode, CouponTerms, apply_coupon
from domain.errors import Conflict, Forbidden
from domain.models.payments import Coupon
from domain.models.users import User
from domain.payment import DiscountType

TAG = {"name": "Coupons", "description": "Discount coupons"}


class CouponAccess(Access[Coupon]):
    """Only admins list and manage coupons; the check by code below is for everyone."""

    def visible(self, user: User | None, stmt: Any) -> Any:
        if user is None or user.user_type != "admin":
            raise Forbidden("Only admins list coupons", code="ROLE_NOT_ALLOWED")
        return stmt

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        # Said plainly here; the unique index still decides a race (409 COUPON_CONFLICT).
        if await db.scalar(select(Coupon.id).where(Coupon.code == data["code"])) is not None:
            raise Conflict("A coupon with this code already exists", code="COUPON_CODE_TAKEN")

    async def before_update(
        self, db: AsyncSession, user: User, row: Any, data: dict[str, Any]
    ) -> None:
        """The schema checks a change within itself; here it is checked against the coupon as
        stored, so a refusal names the field (422) instead of a constraint's 409."""
        problems: list[dict[str, Any]] = []

        def refuse(name: str, message: str) -> None:
            problems.append({"loc": ("body", name), "msg": message, "type": "value_error"})

        value = data.get("discount_value", row.discount_value)
        try:
            percentage_fits(row.discount_type, value)
        except ValueError as exc:
            refuse("discount_value", str(exc))
        valid_from = data.get("valid_from", row.valid_from)
        valid_until = data.get("valid_until", row.valid_until)
        try:
            validity_ordered(valid_from, valid_until)
        except ValueError as exc:
            refuse("valid_until" if "valid_until" in data else "valid_from", str(exc))
        limit = data.get("usage_limit")
        if limit is not None and limit < row.usage_count:
            refuse("usage_limit", f"the coupon has already been used {row.usage_count} times")
        if problems:
            raise RequestValidationError(problems)


resource: Resource[Coupon, CouponOut] = Resource(
    model=Coupon,
    name="coupon",
    out=CouponOut,
    access=CouponAccess(),
    search=(Coupon.code,),
    sortable=("created_at", "code", "valid_until"),
)
router = APIRouter(prefix="/coupons", tags=["Coupons"])
Sort = Annotated[str | None, Query(pattern=resource.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List Coupons", name="list_coupon")
async def list_coupons(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    search: Search = None,
    sort: Sort = None,
) -> Page[CouponOut]:
    return await list_page(db, resource, user, paging, locale, None, search, sort)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a coupon", name="create_coupon"
)
async def create_coupon(
    user: Annotated[User, Depends(creator(resource))], body: CouponCreate, db: DbSession
) -> Envelope[CouponOut]:
    row = await create_row(db, resource, user, body.model_dump(exclude_unset=True))
    return ok(CouponOut.model_validate(row), "Coupon created")


@router.patch("/{id}", summary="Change a coupon", name="update_coupon")
async def update_coupon(
    row: Annotated[Coupon, Depends(changeable(resource))],
    body: CouponUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[CouponOut]:
    await update_row(db, resource, user, row, body.model_dump(exclude_unset=True))
    return ok(CouponOut.model_validate(row), "Coupon updated")


@router.delete("/{id}", summary="Delete a coupon", name="delete_coupon")
async def delete_coupon(
    row: Annotated[Coupon, Depends(changeable(resource))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, resource, user, row))


@router.get("/{code}", response_model=Envelope[CouponCheckOut], summary="Validate a coupon code")
async def check_coupon(
    code: Annotated[str, Path(min_length=1, max_length=50)],
    db: DbSession,
    user: CurrentUser,
    amount: Annotated[Decimal, Query(ge=0, max_digits=12, decimal_places=2)],
) -> Envelope[CouponCheckOut]:
    """The discount the coupon would give on `amount` today, or why it gives none. Nothing is
    reserved: the payment reserves the use when it is made."""
    code = code.strip().upper()
    coupon = await db.scalar(select(Coupon).where(func.upper(Coupon.code) == code))
    result = CouponCheckOut(code=code, valid=False, amount=amount)
    if coupon is None:
        result.refusal_code = CouponRefusalCode.NOT_FOUND.value
        result.message = "This coupon does not exist."
        return ok(result)
    terms = CouponTerms(
        discount_type=DiscountType(coupon.discount_type),
        discount_value=coupon.discount_value,
        min_purchase_amount=coupon.min_purchase_amount,
        max_discount_amount=coupon.max_discount_amount,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        usage_limit=coupon.usage_limit,
        usage_count=coupon.usage_count,
        is_active=coupon.is_active,
    )
    applied = apply_coupon(terms, amount, datetime.now(UTC).date())
    if isinstance(applied, CouponRefusal):
        result.refusal_code = applied.code.value
        result.message = applied.message
    else:
        result.valid = True
        result.discount_amount = applied.amount
        result.amount_due = applied.amount_due
    return ok(result)
