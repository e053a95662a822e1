"""Money in minor units: each currency's ISO 4217 exponent, exact both ways, nothing rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Invalid
from domain.money import currency_code, exponent, from_minor, quantum, to_minor


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("USD", 2),
        ("INR", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("VND", 0),
        ("CLP", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("JOD", 3),
        ("TND", 3),
        ("usd", 2),
    ],
)
def test_each_currency_has_its_iso_exponent(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("1000", "INR", 100000),
        ("0.01", "EUR", 1),
        ("0", "USD", 0),
        ("100", "JPY", 100),
        ("100.00", "JPY", 100),
        ("1.234", "KWD", 1234),
        ("295.990", "BHD", 295990),
        ("1E+2", "JPY", 100),
    ],
)
def test_amount_goes_to_minor_units_exactly(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.345", "USD"), ("10.5", "JPY"), ("0.001", "INR"), ("1.2345", "KWD")],
)
def test_amount_finer_than_the_currency_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(Invalid) as raised:
        to_minor(Decimal(amount), currency)
    assert raised.value.code == "INVALID_AMOUNT"


@pytest.mark.parametrize("amount", ["-0.01", "-100", "NaN", "Infinity"])
def test_negative_or_non_finite_amount_is_refused(amount: str) -> None:
    with pytest.raises(Invalid):
        to_minor(Decimal(amount), "USD")


def test_float_is_not_money() -> None:
    with pytest.raises(TypeError):
        to_minor(0.1, "USD")  # type: ignore[arg-type]


def test_minor_units_come_back_at_the_currency_scale() -> None:
    assert str(from_minor(1250, "USD")) == "12.50"
    assert str(from_minor(100, "JPY")) == "100"
    assert str(from_minor(1234, "KWD")) == "1.234"
    assert str(from_minor(0, "USD")) == "0.00"
    assert quantum("USD") == Decimal("0.01")
    assert quantum("JPY") == Decimal("1")


def test_negative_minor_units_or_non_int_are_refused() -> None:
    with pytest.raises(Invalid):
        from_minor(-1, "USD")
    with pytest.raises(TypeError):
        from_minor(True, "USD")


def test_very_large_amounts_are_not_rounded_by_the_decimal_context() -> None:
    amount = Decimal("123456789012345678901234567890.12")
    assert to_minor(amount, "USD") == 12345678901234567890123456789012
    assert from_minor(12345678901234567890123456789012, "USD") == amount


@pytest.mark.parametrize("code", ["US", "USDX", "12A", "", "U$D"])
def test_malformed_currency_code_is_refused(code: str) -> None:
    with pytest.raises(Invalid) as raised:
        currency_code(code)
    assert raised.value.code == "INVALID_CURRENCY"


def test_currency_code_is_canonical_upper_case() -> None:
    assert currency_code(" inr ") == "INR"


@given(
    minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "KWD", "INR", "CLF"]),
)
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    assert to_minor(from_minor(minor, currency), currency) == minor
