"""Coupons: whether a coupon applies to a purchase on a day, and the discount it gives.

Pure rules. Consuming a use happens in the database (activities/coupons.py), where the usage
limit holds under concurrent redemptions; the check here gives the patient the specific reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.errors import Invalid
from domain.money import DEFAULT_EXPONENT, exponent
from domain.payment import DiscountType

HUNDRED = Decimal(100)


class CouponRefusalCode(StrEnum):
    NOT_FOUND = "COUPON_NOT_FOUND"
    INACTIVE = "COUPON_INACTIVE"
    NOT_YET_VALID = "COUPON_NOT_YET_VALID"
    EXPIRED = "COUPON_EXPIRED"
    MIN_PURCHASE = "COUPON_MIN_PURCHASE"
    USED_UP = "COUPON_USED_UP"


@dataclass(frozen=True)
class CouponTerms:
    """The fields of a coupon row that decide whether and how much it discounts."""

    discount_type: DiscountType
    discount_value: Decimal
    min_purchase_amount: Decimal | None = None
    max_discount_amount: Decimal | None = None
    # Both inclusive: a coupon valid until 31 March still works on 31 March.
    valid_from: date | None = None
    valid_until: date | None = None
    usage_limit: int | None = None
    usage_count: int = 0
    is_active: bool = True


@dataclass(frozen=True)
class CouponDiscount:
    amount: Decimal
    # What is left to pay: the purchase amount minus the discount.
    amount_due: Decimal


@dataclass(frozen=True)
class CouponRefusal:
    code: CouponRefusalCode
    message: str

    def to_error(self) -> Invalid:
        return Invalid(self.message, code=self.code.value)


def refusal(terms: CouponTerms, amount: Decimal, today: date) -> CouponRefusal | None:
    """Why the coupon does not apply to this purchase today, or None when it does."""
    if not terms.is_active:
        return CouponRefusal(CouponRefusalCode.INACTIVE, "This coupon is no longer active.")
    if terms.valid_from is not None and today < terms.valid_from:
        return CouponRefusal(
            CouponRefusalCode.NOT_YET_VALID,
            f"This coupon is valid from {terms.valid_from.isoformat()}.",
        )
    if terms.valid_until is not None and today > terms.valid_until:
        return CouponRefusal(
            CouponRefusalCode.EXPIRED,
            f"This coupon expired on {terms.valid_until.isoformat()}.",
        )
    if terms.usage_limit is not None and terms.usage_count >= terms.usage_limit:
        return CouponRefusal(CouponRefusalCode.USED_UP, "This coupon has been used up.")
    if terms.min_purchase_amount is not None and amount < terms.min_purchase_amount:
        return CouponRefusal(
            CouponRefusalCode.MIN_PURCHASE,
            f"This coupon needs a purchase of at least {terms.min_purchase_amount}.",
        )
    return None


def discount_for(terms: CouponTerms, amount: Decimal, *, places: int = DEFAULT_EXPONENT) -> Decimal:
    """The discount on `amount`, rounded half up to `places` decimals, capped by the coupon's
    maximum and never more than the amount itself. Validity is not checked here."""
    if amount < 0:
        raise ValueError(f"a purchase amount cannot be negative: {amount}")
    step = Decimal(1).scaleb(-places)
    if terms.discount_type == DiscountType.PERCENTAGE:
        raw = amount * terms.discount_value / HUNDRED
    else:
        raw = terms.discount_value
    discount = raw.quantize(step, rounding=ROUND_HALF_UP)
    if terms.max_discount_amount is not None:
        # The cap is rounded down so a rounded discount never exceeds it.
        cap = terms.max_discount_amount.quantize(step, rounding=ROUND_DOWN)
        discount = min(discount, cap)
    return max(Decimal(0).quantize(step), min(discount, amount.quantize(step, rounding=ROUND_DOWN)))


def apply_coupon(
    terms: CouponTerms, amount: Decimal, today: date, *, currency: str | None = None
) -> CouponDiscount | CouponRefusal:
    """The discount the coupon gives on a purchase of `amount` on `today`, or why it gives none.

    Amounts are rounded to 2 places, or to the currency's own minor unit when one is named
    (whole yen for JPY), so what is left to pay can always be charged exactly."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    refused = refusal(terms, amount, today)
    if refused is not None:
        return refused
    places = exponent(currency) if currency is not None else DEFAULT_EXPONENT
    discount = discount_for(terms, amount, places=places)
    return CouponDiscount(amount=discount, amount_due=amount - discount)
