"""Money: currency codes, their ISO 4217 exponents, and exact conversion to and from minor units.

Amounts are Decimal everywhere; gateways take integers in the currency's minor unit (cents for
USD, paise for INR, whole yen for JPY, fils for KWD). A conversion that would lose a fraction is
refused rather than rounded: rounding money is a business decision made before this point.
"""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import Invalid

DEFAULT_EXPONENT = 2

# ISO 4217 currencies whose minor unit is not 1/100. Everything else uses DEFAULT_EXPONENT.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
FOUR_DECIMAL = frozenset({"CLF", "UYW"})

_CODE = re.compile(r"^[A-Z]{3}$")

INVALID_CURRENCY = "INVALID_CURRENCY"
INVALID_AMOUNT = "INVALID_AMOUNT"


def currency_code(code: str) -> str:
    """The code in canonical (upper-case) form; refuses anything that is not three letters."""
    canonical = code.strip().upper() if isinstance(code, str) else ""
    if not _CODE.match(canonical):
        raise Invalid(f"{code!r} is not an ISO 4217 currency code", code=INVALID_CURRENCY)
    return canonical


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has (JPY 0, USD 2, KWD 3)."""
    code = currency_code(currency)
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return DEFAULT_EXPONENT


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency as a Decimal: Decimal('0.01') for USD, '1' for JPY."""
    return Decimal(1).scaleb(-exponent(currency))


def _checked(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal):
        # A float has already lost the exact value; an int is fine but says nothing of scale.
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise Invalid(f"{amount} is not an amount of money", code=INVALID_AMOUNT)
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    """The amount in the currency's minor units, exactly.

    Refuses negative amounts and amounts finer than the currency allows (12.345 USD, 10.5 JPY);
    trailing zeros are fine (12.50 USD -> 1250, 100.00 JPY -> 100)."""
    value = _checked(amount)
    if value < 0:
        raise Invalid(f"{amount} is negative", code=INVALID_AMOUNT)
    places = exponent(currency)
    _, digits, exp = value.as_tuple()
    if not isinstance(exp, int):  # only NaN and infinities have a letter here
        raise Invalid(f"{amount} is not an amount of money", code=INVALID_AMOUNT)
    # Integer arithmetic on the digits: no Decimal context can round a large amount here.
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exp + places
    if shift >= 0:
        return coefficient * int(10**shift)
    minor, remainder = divmod(coefficient, int(10**-shift))
    if remainder:
        raise Invalid(
            f"{amount} has more decimal places than {currency_code(currency)} allows ({places})",
            code=INVALID_AMOUNT,
        )
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """The Decimal amount of an integer count of minor units, at the currency's scale."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    if minor < 0:
        raise Invalid(f"{minor} minor units is negative", code=INVALID_AMOUNT)
    # Exact at any size: the digits are kept and only the exponent is set.
    return Decimal((0, tuple(int(d) for d in str(minor)), -exponent(currency)))
