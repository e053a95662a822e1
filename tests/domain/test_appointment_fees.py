"""The consultation fee from the doctor, and refunds by the notice given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.appointment_fees import consultation_fee, refund_percent
from domain.errors import Conflict

START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_fee_is_the_doctors_in_upper_case_currency() -> None:
    fee = consultation_fee(Decimal("150.00"), "usd")
    assert fee.amount == Decimal("150.00") and fee.currency == "USD"


def test_doctor_without_fee_cannot_be_priced() -> None:
    with pytest.raises(Conflict) as err:
        consultation_fee(None, "USD")
    assert err.value.code == "NO_CONSULTATION_FEE"


@pytest.mark.parametrize(
    ("hours_before", "expected"),
    [(48, Decimal(100)), (24, Decimal(100)), (23, Decimal(50)), (0, Decimal(50))],
)
def test_refund_by_notice(hours_before: int, expected: Decimal) -> None:
    got = refund_percent(
        starts_at=START,
        cancelled_at=START - timedelta(hours=hours_before),
        change_notice_hours=24,
        late_percent=Decimal(50),
    )
    assert got == expected


def test_doctor_no_show_is_refunded_in_full_and_patient_no_show_by_setting() -> None:
    doctor = refund_percent(
        starts_at=START,
        cancelled_at=START,
        change_notice_hours=24,
        late_percent=Decimal(0),
        by_doctor=True,
    )
    patient = refund_percent(
        starts_at=START,
        cancelled_at=START,
        change_notice_hours=24,
        late_percent=Decimal(50),
        patient_no_show=True,
        no_show_percent=Decimal(0),
    )
    assert doctor == Decimal(100)
    assert patient == Decimal(0)
