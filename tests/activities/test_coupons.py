"""Coupon uses against the real database: one use per payment however often the activity runs,
the usage limit under concurrent redemptions, and the use given back when a payment fails."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.coupons import (
    COUPON_ALREADY_APPLIED,
    CouponActivities,
    CouponReleaseRequest,
    CouponReservationRequest,
)
from activities.lifecycle import code_of
from domain.access import Role
from domain.models import Booking, Patient, Payment, User
from domain.models.payments import Coupon
from domain.payment import PaymentGateway

TODAY = date(2025, 6, 15)


async def _payment(
    sessionmaker: async_sessionmaker[AsyncSession], amount: str = "1000.00"
) -> uuid.UUID:
    async with sessionmaker() as db, db.begin():
        user = User(
            email=f"patient-{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            user_type=Role.PATIENT.value,
        )
        db.add(user)
        await db.flush()
        patient = Patient(user_id=user.id, country="Kenya")
        db.add(patient)
        await db.flush()
        booking = Booking(booking_number="BK-" + uuid.uuid4().hex[:10], patient_id=patient.id)
        db.add(booking)
        await db.flush()
        payment = Payment(
            transaction_id="TX-" + uuid.uuid4().hex[:12],
            booking_id=booking.id,
            patient_id=patient.id,
            amount=Decimal(amount),
            currency="USD",
            payment_gateway=PaymentGateway.STRIPE.value,
        )
        db.add(payment)
    return payment.id


async def _coupon(sessionmaker: async_sessionmaker[AsyncSession], **fields: Any) -> str:
    code = str(fields.pop("code", "SAVE-" + uuid.uuid4().hex[:6].upper()))
    async with sessionmaker() as db, db.begin():
        db.add(
            Coupon(
                code=code,
                discount_type=fields.pop("discount_type", "percentage"),
                discount_value=fields.pop("discount_value", Decimal("10")),
                **fields,
            )
        )
    return code


async def _usage(sessionmaker: async_sessionmaker[AsyncSession], code: str) -> int:
    async with sessionmaker() as db:
        count = await db.scalar(select(Coupon.usage_count).where(Coupon.code == code))
    assert count is not None
    return count


def _request(payment_id: uuid.UUID, code: str, amount: str = "1000.00") -> CouponReservationRequest:
    return CouponReservationRequest(
        payment_id=payment_id,
        code=code,
        purchase_amount=Decimal(amount),
        currency="USD",
        today=TODAY,
    )


async def test_reserving_a_coupon_consumes_one_use_and_records_the_discount(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, max_discount_amount=Decimal("75.00"), usage_limit=5)
    payment_id = await _payment(sessionmaker)
    activities = CouponActivities(sessionmaker)

    reservation = await activities.reserve_coupon(_request(payment_id, code))

    assert reservation.consumed
    assert reservation.discount_amount == Decimal("75.00")
    assert reservation.amount_due == Decimal("925.00")
    assert await _usage(sessionmaker, code) == 1
    async with sessionmaker() as db:
        payment = await db.get(Payment, payment_id)
    assert payment is not None
    assert payment.coupon_id == reservation.coupon_id
    assert payment.discount_amount == Decimal("75.00")
    assert payment.amount == Decimal("925.00")
    assert payment.metadata_ is not None
    assert payment.metadata_["coupon"]["state"] == "reserved"


async def test_a_retried_reservation_does_not_consume_a_second_use(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, usage_limit=5)
    payment_id = await _payment(sessionmaker)
    activities = CouponActivities(sessionmaker)

    first = await activities.reserve_coupon(_request(payment_id, code))
    again = await activities.reserve_coupon(_request(payment_id, code))

    assert first.consumed and not again.consumed
    assert again.discount_amount == first.discount_amount == Decimal("100.00")
    assert again.amount_due == Decimal("900.00")
    assert await _usage(sessionmaker, code) == 1


async def test_two_payments_racing_for_the_last_use_only_one_wins(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, usage_limit=1)
    payments = [await _payment(sessionmaker) for _ in range(2)]
    activities = CouponActivities(sessionmaker)

    results = await asyncio.gather(
        *(activities.reserve_coupon(_request(p, code)) for p in payments),
        return_exceptions=True,
    )

    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1
    assert len(lost) == 1
    assert isinstance(lost[0], ApplicationError)
    assert (lost[0].type, code_of(lost[0])) == ("Invalid", "COUPON_USED_UP")
    assert lost[0].non_retryable
    assert await _usage(sessionmaker, code) == 1


async def test_many_payments_racing_never_exceed_the_usage_limit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, usage_limit=3)
    payments = [await _payment(sessionmaker) for _ in range(8)]
    activities = CouponActivities(sessionmaker)

    results = await asyncio.gather(
        *(activities.reserve_coupon(_request(p, code)) for p in payments),
        return_exceptions=True,
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert all(
        isinstance(r, ApplicationError) and (r.type, code_of(r)) == ("Invalid", "COUPON_USED_UP")
        for r in results
        if isinstance(r, BaseException)
    )
    assert await _usage(sessionmaker, code) == 3


async def test_releasing_gives_the_use_back_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, usage_limit=1)
    payment_id = await _payment(sessionmaker)
    other_payment = await _payment(sessionmaker)
    activities = CouponActivities(sessionmaker)
    await activities.reserve_coupon(_request(payment_id, code))

    first = await activities.release_coupon(CouponReleaseRequest(payment_id=payment_id))
    again = await activities.release_coupon(CouponReleaseRequest(payment_id=payment_id))

    assert first.released and not again.released
    assert await _usage(sessionmaker, code) == 0
    # The freed use is there for someone else.
    taken = await activities.reserve_coupon(_request(other_payment, code))
    assert taken.consumed
    assert await _usage(sessionmaker, code) == 1


async def test_a_new_attempt_after_a_release_reserves_again(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await _coupon(sessionmaker, usage_limit=2)
    payment_id = await _payment(sessionmaker)
    activities = CouponActivities(sessionmaker)
    await activities.reserve_coupon(_request(payment_id, code))
    await activities.release_coupon(CouponReleaseRequest(payment_id=payment_id))

    again = await activities.reserve_coupon(_request(payment_id, code))

    assert again.consumed
    assert await _usage(sessionmaker, code) == 1


async def test_releasing_a_payment_without_a_coupon_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    payment_id = await _payment(sessionmaker)
    result = await CouponActivities(sessionmaker).release_coupon(
        CouponReleaseRequest(payment_id=payment_id)
    )
    assert not result.released
    assert result.coupon_id is None


@pytest.mark.parametrize(
    ("fields", "amount", "code"),
    [
        ({"is_active": False}, "1000.00", "COUPON_INACTIVE"),
        ({"valid_from": date(2025, 7, 1)}, "1000.00", "COUPON_NOT_YET_VALID"),
        ({"valid_until": date(2025, 6, 1)}, "1000.00", "COUPON_EXPIRED"),
        ({"min_purchase_amount": Decimal("2000.00")}, "1000.00", "COUPON_MIN_PURCHASE"),
        ({"usage_limit": 2, "usage_count": 2}, "1000.00", "COUPON_USED_UP"),
    ],
)
async def test_a_refused_coupon_consumes_nothing_and_says_why(
    sessionmaker: async_sessionmaker[AsyncSession], fields: dict[str, Any], amount: str, code: str
) -> None:
    coupon = await _coupon(sessionmaker, **fields)
    before = await _usage(sessionmaker, coupon)
    payment_id = await _payment(sessionmaker, amount)

    with pytest.raises(ApplicationError) as raised:
        await CouponActivities(sessionmaker).reserve_coupon(_request(payment_id, coupon, amount))

    assert (raised.value.type, code_of(raised.value)) == ("Invalid", code)
    assert raised.value.non_retryable
    assert await _usage(sessionmaker, coupon) == before
    async with sessionmaker() as db:
        payment = await db.get(Payment, payment_id)
    assert payment is not None and payment.coupon_id is None


async def test_an_unknown_coupon_is_not_found(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    payment_id = await _payment(sessionmaker)
    with pytest.raises(ApplicationError) as raised:
        await CouponActivities(sessionmaker).reserve_coupon(_request(payment_id, "NOPE"))
    assert (raised.value.type, code_of(raised.value)) == ("Invalid", "COUPON_NOT_FOUND")


async def test_a_second_coupon_on_the_same_payment_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first, second = await _coupon(sessionmaker), await _coupon(sessionmaker)
    payment_id = await _payment(sessionmaker)
    activities = CouponActivities(sessionmaker)
    await activities.reserve_coupon(_request(payment_id, first))

    with pytest.raises(ApplicationError) as raised:
        await activities.reserve_coupon(_request(payment_id, second))

    assert (raised.value.type, code_of(raised.value)) == ("Invalid", COUPON_ALREADY_APPLIED)
    assert await _usage(sessionmaker, second) == 0
