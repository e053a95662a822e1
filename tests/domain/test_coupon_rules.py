"""Coupon rules: when a coupon applies, the discount it gives, and why it does not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.coupons import (
    CouponDiscount,
    CouponRefusal,
    CouponRefusalCode,
    CouponTerms,
    apply_coupon,
)
from domain.payment import DiscountType

TODAY = date(2025, 6, 15)


def percent(value: str, **fields: object) -> CouponTerms:
    return CouponTerms(DiscountType.PERCENTAGE, Decimal(value), **fields)  # type: ignore[arg-type]


def fixed(value: str, **fields: object) -> CouponTerms:
    return CouponTerms(DiscountType.FIXED, Decimal(value), **fields)  # type: ignore[arg-type]


def discount(result: CouponDiscount | CouponRefusal) -> Decimal:
    assert isinstance(result, CouponDiscount), result
    return result.amount


def refused(result: CouponDiscount | CouponRefusal) -> CouponRefusalCode:
    assert isinstance(result, CouponRefusal), result
    return result.code


def test_percentage_coupon_takes_its_share_rounded_half_up() -> None:
    result = apply_coupon(percent("10"), Decimal("1000.05"), TODAY)
    assert isinstance(result, CouponDiscount)
    # 100.005 rounds half up to 100.01
    assert result.amount == Decimal("100.01")
    assert result.amount_due == Decimal("900.04")


def test_percentage_discount_is_capped_by_the_maximum() -> None:
    terms = percent("20", max_discount_amount=Decimal("150.00"))
    assert discount(apply_coupon(terms, Decimal("5000.00"), TODAY)) == Decimal("150.00")
    assert discount(apply_coupon(terms, Decimal("500.00"), TODAY)) == Decimal("100.00")


def test_fixed_coupon_never_discounts_more_than_the_amount() -> None:
    result = apply_coupon(fixed("500"), Decimal("120.00"), TODAY)
    assert isinstance(result, CouponDiscount)
    assert result.amount == Decimal("120.00")
    assert result.amount_due == Decimal("0.00")


def test_discount_in_a_zero_decimal_currency_is_whole_units() -> None:
    # 15 % of 1005 yen is 150.75: whole yen, half up, so the rest can be charged exactly.
    result = apply_coupon(percent("15"), Decimal("1005"), TODAY, currency="JPY")
    assert isinstance(result, CouponDiscount)
    assert result.amount == Decimal("151")
    assert result.amount_due == Decimal("854")


def test_inactive_coupon_is_refused() -> None:
    assert refused(apply_coupon(fixed("10", is_active=False), Decimal("100"), TODAY)) == (
        CouponRefusalCode.INACTIVE
    )


def test_coupon_before_its_start_date_is_not_yet_valid() -> None:
    terms = fixed("10", valid_from=date(2025, 6, 16))
    assert refused(apply_coupon(terms, Decimal("100"), TODAY)) == CouponRefusalCode.NOT_YET_VALID


def test_coupon_after_its_end_date_is_expired() -> None:
    terms = fixed("10", valid_until=date(2025, 6, 14))
    assert refused(apply_coupon(terms, Decimal("100"), TODAY)) == CouponRefusalCode.EXPIRED


def test_validity_dates_are_inclusive() -> None:
    terms = fixed("10", valid_from=TODAY, valid_until=TODAY)
    assert discount(apply_coupon(terms, Decimal("100"), TODAY)) == Decimal("10.00")


def test_purchase_under_the_minimum_is_refused() -> None:
    terms = fixed("10", min_purchase_amount=Decimal("500.00"))
    result = apply_coupon(terms, Decimal("499.99"), TODAY)
    assert refused(result) == CouponRefusalCode.MIN_PURCHASE
    assert discount(apply_coupon(terms, Decimal("500.00"), TODAY)) == Decimal("10.00")


def test_coupon_at_its_usage_limit_is_used_up() -> None:
    terms = fixed("10", usage_limit=3, usage_count=3)
    assert refused(apply_coupon(terms, Decimal("100"), TODAY)) == CouponRefusalCode.USED_UP
    assert discount(apply_coupon(fixed("10", usage_limit=3, usage_count=2), Decimal("100"), TODAY))


def test_refusal_becomes_an_invalid_error_with_its_code() -> None:
    result = apply_coupon(fixed("10", is_active=False), Decimal("100"), TODAY)
    assert isinstance(result, CouponRefusal)
    error = result.to_error()
    assert error.code == "COUPON_INACTIVE"


def test_float_amount_is_refused() -> None:
    with pytest.raises(TypeError):
        apply_coupon(fixed("10"), 100.0, TODAY)  # type: ignore[arg-type]


money = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=2)
optional_money = st.none() | st.decimals(
    min_value=Decimal("0"), max_value=Decimal("100000"), places=2
)


@st.composite
def coupons(draw: st.DrawFn) -> CouponTerms:
    kind = draw(st.sampled_from(list(DiscountType)))
    if kind == DiscountType.PERCENTAGE:
        value = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2))
    else:
        value = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2))
    return CouponTerms(kind, value, max_discount_amount=draw(optional_money))


@given(terms=coupons(), amount=money)
def test_discount_stays_within_zero_and_the_amount(terms: CouponTerms, amount: Decimal) -> None:
    result = apply_coupon(terms, amount, TODAY)
    assert isinstance(result, CouponDiscount)
    assert Decimal(0) <= result.amount <= amount
    assert result.amount + result.amount_due == amount
    assert result.amount == result.amount.quantize(Decimal("0.01"))


@given(terms=coupons(), amount=money)
def test_discount_respects_the_cap(terms: CouponTerms, amount: Decimal) -> None:
    result = apply_coupon(terms, amount, TODAY)
    assert isinstance(result, CouponDiscount)
    if terms.max_discount_amount is not None:
        assert result.amount <= terms.max_discount_amount


@given(terms=coupons(), amount=money, more=money)
def test_a_bigger_purchase_never_gets_a_smaller_discount(
    terms: CouponTerms, amount: Decimal, more: Decimal
) -> None:
    small = apply_coupon(terms, amount, TODAY)
    big = apply_coupon(terms, amount + more, TODAY)
    assert isinstance(small, CouponDiscount) and isinstance(big, CouponDiscount)
    assert big.amount >= small.amount
