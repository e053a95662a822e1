"""Invoice arithmetic: totals to the cent, half-up rounding, the rules an invoice must keep,
the tax rate of a hospital's country and the readable numbers."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Invalid
from domain.invoices import (
    LineItem,
    compute_invoice,
    format_invoice_number,
    is_invoice_number,
    line_items_from_json,
    money,
    tax_rate_for,
)
from domain.money import to_minor

D = Decimal


def test_totals_of_a_treatment_quotation_with_discount_and_gst() -> None:
    totals = compute_invoice(
        [
            LineItem("Knee replacement surgery", D("8500.00")),
            LineItem("Hospital stay, 5 nights", D("1250.50")),
        ],
        discount=D("500"),
        tax_rate=D("18"),
    )
    assert totals.subtotal == D("9750.50")
    assert totals.discount == D("500.00")
    assert totals.taxable == D("9250.50")
    assert totals.tax == D("1665.09")  # 9250.50 * 18 % = 1665.09
    assert totals.final == D("10915.59")
    assert totals.tax_rate == D("18.00")
    assert totals.line_items_json() == [
        {"description": "Knee replacement surgery", "amount": "8500.00"},
        {"description": "Hospital stay, 5 nights", "amount": "1250.50"},
    ]


def test_tax_rounds_half_up_to_the_cent() -> None:
    # 0.25 * 10 % = 0.025 -> 0.03 (half up), where banker's rounding would give 0.02.
    totals = compute_invoice([LineItem("Consultation", D("0.25"))], tax_rate=D("10"))
    assert totals.tax == D("0.03")
    assert totals.final == D("0.28")


def test_items_are_rounded_before_they_are_added() -> None:
    # Printed lines must add up to the printed subtotal: 0.005 + 0.005 is 0.01 + 0.01.
    totals = compute_invoice([LineItem("a", D("0.005")), LineItem("b", D("0.005"))])
    assert [item.amount for item in totals.items] == [D("0.01"), D("0.01")]
    assert totals.subtotal == D("0.02")


def test_an_invoice_in_yen_has_no_fraction_of_a_yen() -> None:
    totals = compute_invoice([LineItem("MRI scan", D("45000.4"))], tax_rate=D("10"), currency="JPY")
    assert (totals.subtotal, totals.tax, totals.final) == (D("45000"), D("4500"), D("49500"))
    assert to_minor(totals.final, "JPY") == 49500
    # Currencies with cents (and those with three places: the columns keep two) round to cents.
    assert compute_invoice([LineItem("x", D("1.005"))], currency="KWD").final == D("1.01")


def test_no_tax_and_no_discount_by_default() -> None:
    totals = compute_invoice([LineItem("Teleconsultation", D("75"))])
    assert (totals.discount, totals.tax, totals.final) == (D("0.00"), D("0.00"), D("75.00"))


def test_a_discount_of_the_whole_subtotal_leaves_nothing_to_pay() -> None:
    totals = compute_invoice([LineItem("Follow-up", D("120"))], discount=D("120"), tax_rate=D("5"))
    assert totals.final == D("0.00")


@pytest.mark.parametrize(
    ("items", "discount", "rate", "message"),
    [
        ([LineItem("Surgery", D("-1"))], D(0), D(0), "negative amount"),
        ([LineItem("Surgery", D("100"))], D("-5"), D(0), "discount cannot be negative"),
        ([LineItem("Surgery", D("100"))], D("100.01"), D(0), "exceed the subtotal"),
        ([LineItem("Surgery", D("100"))], D(0), D("-1"), "between 0 and 100"),
        ([LineItem("Surgery", D("100"))], D(0), D("100.5"), "between 0 and 100"),
        ([LineItem("  ", D("100"))], D(0), D(0), "no description"),
        ([LineItem("Surgery", D("NaN"))], D(0), D(0), "finite"),
        ([LineItem("Surgery", D("Infinity"))], D(0), D(0), "finite"),
        ([], D(0), D(0), "at least one line item"),
    ],
)
def test_an_invoice_that_breaks_a_rule_is_refused(
    items: list[LineItem], discount: Decimal, rate: Decimal, message: str
) -> None:
    with pytest.raises(Invalid, match=message) as caught:
        compute_invoice(items, discount=discount, tax_rate=rate)
    assert caught.value.code == "INVALID_INVOICE"


def test_quotation_items_become_line_items() -> None:
    quotation: dict[str, Any] = {
        "items": [
            {"description": "Angioplasty", "amount": "4200.00"},
            {"description": "Stent", "amount": 1800},
        ]
    }
    assert line_items_from_json(quotation["items"]) == (
        LineItem("Angioplasty", D("4200.00")),
        LineItem("Stent", D("1800")),
    )
    with pytest.raises(Invalid):
        line_items_from_json([{"description": "Stent", "amount": "lots"}])
    with pytest.raises(Invalid):
        line_items_from_json([{"amount": "10"}])


def test_tax_rate_follows_the_hospital_country_else_the_default() -> None:
    rates = {"India": D("18"), "Thailand": D("7")}
    assert tax_rate_for("India", rates, D("0")) == D("18")
    assert tax_rate_for("  india ", rates, D("0")) == D("18")
    assert tax_rate_for("Turkey", rates, D("10")) == D("10")
    assert tax_rate_for(None, rates, D("5")) == D("5")
    assert tax_rate_for("Mexico", {}, D("0")) == D("0")
    with pytest.raises(Invalid):
        tax_rate_for("India", {"India": D("180")}, D("0"))


def test_invoice_numbers_are_readable_and_zero_padded() -> None:
    assert format_invoice_number(2026, 42) == "MV-INV-2026-000042"
    assert format_invoice_number(2027, 1_234_567) == "MV-INV-2027-1234567"
    assert is_invoice_number("MV-INV-2026-000042")
    assert not is_invoice_number("MV-INV-26-42")
    with pytest.raises(ValueError):
        format_invoice_number(2026, 0)


cents = st.decimals(min_value=0, max_value=D("1000000"), places=3, allow_nan=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)


@given(
    amounts=st.lists(cents, min_size=1, max_size=8),
    rate=rates,
    discount_share=st.fractions(min_value=0, max_value=1),
)
def test_final_is_subtotal_minus_discount_plus_tax_and_never_negative(
    amounts: list[Decimal], rate: Decimal, discount_share: Fraction
) -> None:
    items = [LineItem(f"item {i}", amount) for i, amount in enumerate(amounts)]
    subtotal = sum((money(a) for a in amounts), D("0"))
    # Any discount from nothing to the whole subtotal (rounded down so it never exceeds it).
    share = D(discount_share.numerator) / D(discount_share.denominator)
    discount = (subtotal * share).quantize(D("0.01"), rounding=ROUND_DOWN)
    totals = compute_invoice(items, discount=discount, tax_rate=rate)
    assert totals.subtotal == subtotal
    assert totals.final == totals.subtotal - totals.discount + totals.tax
    assert totals.final >= 0
    assert totals.tax >= 0
    for value in (totals.subtotal, totals.discount, totals.tax, totals.final):
        assert value == money(value)  # two places, always
