"""The consultation's price and the refund an appointment's cancellation earns, both pure.

The fee is the doctor's, priced on the server (never the client's word). The refund depends on
the notice given: a cancellation at or beyond the doctor's change_notice_hours before the start
is refunded in full, one inside it by `late_percent`; a doctor who does not show (or cancels)
is refunded in full; a patient who does not show gets `no_show_percent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.errors import Conflict

FULL = Decimal(100)


@dataclass(frozen=True)
class Fee:
    amount: Decimal
    currency: str


def consultation_fee(doctor_fee: Decimal | None, currency: str | None) -> Fee:
    """The doctor's consultation fee and currency; Conflict NO_CONSULTATION_FEE when unset."""
    if doctor_fee is None or doctor_fee < 0 or not currency:
        raise Conflict("This doctor has no consultation fee yet.", code="NO_CONSULTATION_FEE")
    return Fee(Decimal(doctor_fee), currency.strip().upper())


def refund_percent(
    *,
    starts_at: datetime,
    cancelled_at: datetime,
    change_notice_hours: int,
    late_percent: Decimal,
    by_doctor: bool = False,
    patient_no_show: bool = False,
    no_show_percent: Decimal = Decimal(0),
) -> Decimal:
    """The percent of what was paid that goes back (0..100)."""
    for value in (late_percent, no_show_percent):
        if not Decimal(0) <= value <= FULL:
            raise ValueError("a refund percent is between 0 and 100")
    if by_doctor:
        return FULL
    if patient_no_show:
        return no_show_percent
    if starts_at - cancelled_at >= timedelta(hours=change_notice_hours):
        return FULL
    return late_percent
