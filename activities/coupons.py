"""Coupon uses for the payment workflow: reserve one for a payment, release it if the payment
fails or expires. Each is keyed by the payment, so a retried activity never counts twice.

The reservation is recorded on the payment row itself: `coupon_id` and `discount_amount`, and
`metadata["coupon"]["state"]` = reserved | released. The usage limit is enforced by a single
conditional UPDATE, so two patients racing for the last use cannot both get it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lifecycle import refusal
from domain.coupons import CouponRefusal, CouponRefusalCode, CouponTerms, apply_coupon
from domain.errors import Invalid, NotFound
from domain.models.payments import Coupon, Payment
from domain.payment import DiscountType

PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
# Another coupon is already reserved for this payment (one coupon per payment).
COUPON_ALREADY_APPLIED = "COUPON_ALREADY_APPLIED"

RESERVED = "reserved"
RELEASED = "released"


class CouponReservationRequest(BaseModel):
    payment_id: uuid.UUID
    code: str
    # The price before the discount, in the payment's currency.
    purchase_amount: Decimal
    currency: str
    # The day the coupon is judged on: the workflow's clock (workflow.now()), not the worker's.
    today: date


class CouponReservation(BaseModel):
    payment_id: uuid.UUID
    coupon_id: uuid.UUID
    code: str
    discount_amount: Decimal
    amount_due: Decimal
    # False when an earlier try of this activity had already consumed the use.
    consumed: bool


class CouponReleaseRequest(BaseModel):
    payment_id: uuid.UUID


class CouponRelease(BaseModel):
    payment_id: uuid.UUID
    coupon_id: uuid.UUID | None = None
    # False when nothing was reserved, or an earlier try had already given the use back.
    released: bool


def _terms(coupon: Coupon) -> CouponTerms:
    return CouponTerms(
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


def _refused(code: CouponRefusalCode | str, message: str) -> ApplicationError:
    # Non-retryable: trying again cannot make the coupon apply; the API answers 400 and the code.
    return refusal(Invalid(message, code=str(code)))


def _coupon_record(payment: Payment) -> dict[str, Any]:
    return dict((payment.metadata_ or {}).get("coupon") or {})


async def _locked_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update()
    )
    if payment is None:
        raise refusal(NotFound(f"payment {payment_id} does not exist", code=PAYMENT_NOT_FOUND))
    return payment


class CouponActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def reserve_coupon(self, request: CouponReservationRequest) -> CouponReservation:
        """Consume one use of the coupon for the payment and record the discount on it.

        Sets payments.coupon_id, discount_amount and amount (purchase_amount minus discount).
        Refusals raise the refusal bridge's Invalid whose code is the refusal code
        (COUPON_NOT_FOUND, COUPON_INACTIVE, COUPON_EXPIRED, COUPON_USED_UP, ...)."""
        # Case-blind, as the API keeps codes in capitals (rows made before that match too).
        code = request.code.strip().upper()
        async with self._sessionmaker() as session, session.begin():
            # Locking the payment serializes tries of this activity for the same payment.
            payment = await _locked_payment(session, request.payment_id)
            record = _coupon_record(payment)
            if payment.coupon_id is not None and record.get("state") == RESERVED:
                if str(record.get("code", "")).upper() != code:
                    raise _refused(
                        COUPON_ALREADY_APPLIED, "another coupon is already applied to this payment"
                    )
                return CouponReservation(
                    payment_id=payment.id,
                    coupon_id=payment.coupon_id,
                    code=code,
                    discount_amount=payment.discount_amount,
                    amount_due=payment.amount,
                    consumed=False,
                )

            coupon = await session.scalar(select(Coupon).where(func.upper(Coupon.code) == code))
            if coupon is None:
                raise _refused(CouponRefusalCode.NOT_FOUND, "This coupon does not exist.")
            result = apply_coupon(
                _terms(coupon), request.purchase_amount, request.today, currency=request.currency
            )
            if isinstance(result, CouponRefusal):
                raise _refused(result.code, result.message)

            # The single statement that makes the limit hold: under a race the loser's UPDATE
            # re-checks the row after the winner commits and matches nothing.
            consumed = await session.scalar(
                update(Coupon)
                .where(
                    Coupon.id == coupon.id,
                    Coupon.is_active.is_(True),
                    or_(
                        Coupon.usage_limit.is_(None),
                        Coupon.usage_count < Coupon.usage_limit,
                    ),
                    or_(Coupon.valid_from.is_(None), Coupon.valid_from <= request.today),
                    or_(Coupon.valid_until.is_(None), Coupon.valid_until >= request.today),
                )
                .values(usage_count=Coupon.usage_count + 1)
                .returning(Coupon.usage_count)
            )
            if consumed is None:
                # Changed since it was read: say why, from the row as it is now.
                await session.refresh(coupon)
                again = apply_coupon(
                    _terms(coupon),
                    request.purchase_amount,
                    request.today,
                    currency=request.currency,
                )
                if isinstance(again, CouponRefusal):
                    raise _refused(again.code, again.message)
                raise _refused(CouponRefusalCode.USED_UP, "This coupon has been used up.")

            payment.coupon_id = coupon.id
            payment.discount_amount = result.amount
            payment.amount = result.amount_due
            payment.metadata_ = {
                **(payment.metadata_ or {}),
                "coupon": {
                    "coupon_id": str(coupon.id),
                    "code": code,
                    "state": RESERVED,
                    "discount_amount": str(result.amount),
                    "purchase_amount": str(request.purchase_amount),
                },
            }
            return CouponReservation(
                payment_id=payment.id,
                coupon_id=coupon.id,
                code=code,
                discount_amount=result.amount,
                amount_due=result.amount_due,
                consumed=True,
            )

    @activity.defn
    async def release_coupon(self, request: CouponReleaseRequest) -> CouponRelease:
        """Give the payment's coupon use back (the payment failed or expired), once.

        The payment keeps coupon_id and discount_amount as the record of what was tried;
        metadata marks the use released, so a retry does not give it back twice and a new
        attempt can reserve it again."""
        async with self._sessionmaker() as session, session.begin():
            payment = await _locked_payment(session, request.payment_id)
            record = _coupon_record(payment)
            if payment.coupon_id is None or record.get("state") != RESERVED:
                return CouponRelease(
                    payment_id=payment.id, coupon_id=payment.coupon_id, released=False
                )
            await session.execute(
                update(Coupon)
                .where(and_(Coupon.id == payment.coupon_id, Coupon.usage_count > 0))
                .values(usage_count=Coupon.usage_count - 1)
            )
            payment.metadata_ = {
                **(payment.metadata_ or {}),
                "coupon": {**record, "state": RELEASED},
            }
            return CouponRelease(payment_id=payment.id, coupon_id=payment.coupon_id, released=True)


def build_coupon_activities(sessionmaker: async_sessionmaker[AsyncSession]) -> CouponActivities:
    return CouponActivities(sessionmaker)


def coupon_activity_list(activities: CouponActivities) -> list[Callable[..., Awaitable[Any]]]:
    """Every coupon activity, bound to the database, for Worker(activities=...)."""
    return [activities.reserve_coupon, activities.release_coupon]
