"""The appointment's pure policies: when reminders go out, what a cancellation refunds, which
changes the limits allow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from domain.access import Role
from domain.appointment import (
    ChangeLimits,
    MoveRefused,
    NoShowParty,
    QuietHours,
    check_change,
    confirm_deadline,
    no_show_party,
    parse_offsets,
    refund_percent,
    reminder_instants,
)
from domain.lifecycle import Actor

QUIET = QuietHours(time(22), time(8))
H = timedelta(hours=1)


def test_reminders_keep_local_time_across_the_berlin_dst_change() -> None:
    # Sunday 29 March 2026 02:00 CET -> 03:00 CEST. A 10:00 CEST start that Sunday is 08:00
    # UTC; 24 real hours before is Saturday 08:00 UTC, 09:00 CET (not 10:00: the night was short).
    starts = datetime(2026, 3, 29, 8, tzinfo=UTC)
    got = reminder_instants(
        starts, parse_offsets("24h,1h"), "Europe/Berlin", QUIET, not_before=starts - 7 * 24 * H
    )
    assert [(r.label, r.at) for r in got] == [
        ("24h", datetime(2026, 3, 28, 8, tzinfo=UTC)),
        ("1h", datetime(2026, 3, 29, 7, tzinfo=UTC)),
    ]
    # An 08:30 CEST start that Sunday (06:30 UTC): 1 h before is 07:30 CEST, quiet; it goes out
    # at 21:59 CET on Saturday (20:59 UTC), the zone's offset before the change.
    early = datetime(2026, 3, 29, 6, 30, tzinfo=UTC)
    moved = reminder_instants(early, [H], "Europe/Berlin", QUIET, not_before=early - 48 * H)
    assert [r.at for r in moved] == [datetime(2026, 3, 28, 20, 59, tzinfo=UTC)]


def test_a_reminder_inside_quiet_hours_goes_out_before_they_begin() -> None:
    # 08:30 IST start (03:00 UTC): 1 h before is 07:30 IST, inside 22:00-08:00, so it goes out at
    # 21:59 IST the evening before (16:29 UTC). Kolkata has no DST.
    starts = datetime(2026, 3, 30, 3, tzinfo=UTC)
    got = reminder_instants(starts, [H], "Asia/Kolkata", QUIET, not_before=starts - 7 * 24 * H)
    assert [r.at for r in got] == [datetime(2026, 3, 29, 16, 29, tzinfo=UTC)]


def test_reminders_too_late_for_the_booking_are_dropped_and_doubles_go_once() -> None:
    starts = datetime(2026, 3, 30, 3, tzinfo=UTC)  # 08:30 IST
    # 24 h before (08:30 IST the day before) is fine; 1 h and 2 h both land at 21:59 IST.
    got = reminder_instants(
        starts, parse_offsets("24h,2h,1h"), "Asia/Kolkata", QUIET, not_before=starts - 30 * H
    )
    assert [r.label for r in got] == ["24h", "2h"]
    late = reminder_instants(starts, [24 * H], "UTC", None, not_before=starts - 2 * H)
    assert late == []


def test_quiet_hours_and_offsets_parse() -> None:
    assert QuietHours.parse("") is None
    assert QuietHours.parse("22:00-08:00") == QUIET
    with pytest.raises(ValueError):
        QuietHours.parse("late")
    assert parse_offsets("1h, 24h,30m") == [24 * H, H, timedelta(minutes=30)]
    with pytest.raises(ValueError):
        parse_offsets("soon")


def test_patient_refund_follows_the_notice_and_others_refund_in_full() -> None:
    assert refund_percent(30 * H, Role.PATIENT) == Decimal(100)
    assert refund_percent(3 * H, Role.PATIENT) == Decimal(50)
    assert refund_percent(H, Role.PATIENT) == Decimal(0)
    assert refund_percent(H, Role.DOCTOR) == Decimal(100)
    assert refund_percent(H, "system") == Decimal(100)


def test_change_limits_bind_patients_and_staff_override_is_reported() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    patient = Actor(Role.PATIENT, uuid.uuid4())
    admin = Actor(Role.ADMIN, uuid.uuid4())
    limits = ChangeLimits(notice=24 * H, max_reschedules=2)
    soon = now + 5 * H
    with pytest.raises(MoveRefused) as late:
        check_change("cancel", patient, now=now, starts_at=soon, limits=limits)
    assert late.value.code == "CHANGE_NOTICE_PASSED"
    with pytest.raises(MoveRefused) as many:
        check_change(
            "reschedule",
            patient,
            now=now,
            starts_at=now + 48 * H,
            limits=limits,
            reschedule_count=2,
        )
    assert many.value.code == "RESCHEDULE_LIMIT_REACHED"
    with pytest.raises(MoveRefused) as not_staff:
        check_change("cancel", patient, now=now, starts_at=soon, limits=limits, override=True)
    assert not_staff.value.code == "OVERRIDE_NOT_ALLOWED"
    assert check_change(
        "reschedule",
        admin,
        now=now,
        starts_at=soon,
        limits=limits,
        reschedule_count=2,
        override=True,
    )
    assert not check_change("cancel", admin, now=now, starts_at=soon, limits=limits)


def test_the_hold_never_outlasts_the_start_and_no_show_names_who_was_missing() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert confirm_deadline(now, now + 2 * H, 24 * H) == now + 2 * H
    assert confirm_deadline(now, now + 48 * H, 24 * H) == now + 24 * H
    assert no_show_party(True, True) is None
    assert no_show_party(True, False) == NoShowParty.DOCTOR
    assert no_show_party(False, True) == NoShowParty.PATIENT
    assert no_show_party(False, False) == NoShowParty.BOTH
