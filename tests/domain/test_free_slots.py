"""Free slots and the reasons a requested time is refused: wall-clock hours in the doctor's zone,
across daylight-saving changes, dates off, buffers, the day's limit and the minimum notice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.availability import (
    Availability,
    Slot,
    WeeklySlot,
    check_request,
    free_slots,
    held_range,
    make_slot,
)
from domain.errors import Invalid

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def every_day(start: str, end: str) -> tuple[WeeklySlot, ...]:
    return tuple(make_slot(day, start, end) for day in range(7))


def local(slots: list[Slot], zone: ZoneInfo) -> list[str]:
    return [s.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") for s in slots]


def test_berlin_mornings_keep_their_local_hour_across_the_spring_change():
    av = Availability(timezone="Europe/Berlin", weekly_hours=every_day("09:00", "10:00"))
    # 2027-03-28 is the last Sunday of March: CET (UTC+1) becomes CEST (UTC+2) at 02:00.
    slots = free_slots(av, [], date(2027, 3, 27), date(2027, 3, 29), LONG_AGO)
    assert local(slots, BERLIN) == [
        "2027-03-27 09:00",
        "2027-03-27 09:30",
        "2027-03-28 09:00",
        "2027-03-28 09:30",
        "2027-03-29 09:00",
        "2027-03-29 09:30",
    ]
    assert slots[0].starts_at == datetime(2027, 3, 27, 8, 0, tzinfo=UTC)
    assert slots[2].starts_at == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)


def test_the_hour_skipped_in_spring_offers_no_slots():
    av = Availability(timezone="Europe/Berlin", weekly_hours=(make_slot(6, "01:00", "04:00"),))
    slots = free_slots(av, [], date(2027, 3, 28), date(2027, 3, 28), LONG_AGO)
    # 02:00-03:00 does not exist that night.
    assert local(slots, BERLIN) == [
        "2027-03-28 01:00",
        "2027-03-28 01:30",
        "2027-03-28 03:00",
        "2027-03-28 03:30",
    ]
    assert [s.starts_at.hour for s in slots] == [0, 0, 1, 1]


def test_the_hour_repeated_in_autumn_is_offered_once_and_nothing_overlaps():
    av = Availability(timezone="Europe/Berlin", weekly_hours=(make_slot(6, "01:00", "04:00"),))
    # 2027-10-31: CEST becomes CET at 03:00, so 02:00-03:00 happens twice.
    slots = free_slots(av, [], date(2027, 10, 31), date(2027, 10, 31), LONG_AGO)
    assert local(slots, BERLIN) == [
        "2027-10-31 01:00",
        "2027-10-31 01:30",
        "2027-10-31 02:00",
        "2027-10-31 02:30",
        "2027-10-31 03:00",
        "2027-10-31 03:30",
    ]
    for before, after in pairwise(slots):
        assert before.ends_at <= after.starts_at
    assert slots[4].starts_at == datetime(2027, 10, 31, 2, 0, tzinfo=UTC)
    # After the change 09:00 is 08:00 UTC again.
    av = Availability(timezone="Europe/Berlin", weekly_hours=every_day("09:00", "09:30"))
    (monday,) = free_slots(av, [], date(2027, 11, 1), date(2027, 11, 1), LONG_AGO)
    assert monday.starts_at == datetime(2027, 11, 1, 8, 0, tzinfo=UTC)


def test_kolkata_has_a_half_hour_offset_and_no_daylight_saving():
    av = Availability(timezone="Asia/Kolkata", weekly_hours=every_day("09:00", "09:30"))
    slots = free_slots(av, [], date(2027, 3, 27), date(2027, 10, 31), LONG_AGO)
    assert len(slots) == (date(2027, 10, 31) - date(2027, 3, 27)).days + 1
    assert {(s.starts_at.hour, s.starts_at.minute) for s in slots} == {(3, 30)}


def test_the_dates_asked_for_are_the_askers_dates():
    """A doctor in Kolkata, 09:00-10:00; a patient in New York asks for their 2027-06-01: New York
    (UTC-4 in June) is 9.5 hours behind, so that is Kolkata's 1st from 09:30 and the 2nd before
    09:30."""
    av = Availability(timezone="Asia/Kolkata", weekly_hours=every_day("09:00", "10:00"))
    slots = free_slots(av, [], date(2027, 6, 1), date(2027, 6, 1), LONG_AGO, tz="America/New_York")
    new_york = ZoneInfo("America/New_York")
    assert local(slots, new_york) == ["2027-06-01 00:00", "2027-06-01 23:30"]
    assert local(slots, KOLKATA) == ["2027-06-01 09:30", "2027-06-02 09:00"]


def test_dates_off_have_no_slots():
    av = Availability(
        timezone="Europe/Berlin",
        weekly_hours=every_day("09:00", "10:00"),
        dates_off=frozenset({date(2027, 5, 4)}),
    )
    slots = free_slots(av, [], date(2027, 5, 3), date(2027, 5, 5), LONG_AGO)
    assert {s.starts_at.astimezone(BERLIN).date() for s in slots} == {
        date(2027, 5, 3),
        date(2027, 5, 5),
    }


def test_the_buffer_follows_every_consultation():
    av = Availability(
        timezone="UTC", weekly_hours=every_day("09:00", "11:00"), slot_minutes=30, buffer_minutes=10
    )
    day = date(2027, 5, 3)
    slots = free_slots(av, [], day, day, LONG_AGO)
    assert local(slots, ZoneInfo("UTC")) == [
        "2027-05-03 09:00",
        "2027-05-03 09:40",
        "2027-05-03 10:20",
    ]
    # Someone booked 09:50 (off the grid): with its buffer it keeps 09:50-10:30.
    start = datetime(2027, 5, 3, 9, 50, tzinfo=UTC)
    taken = [held_range(start, start + timedelta(minutes=30), 10)]
    assert taken == [(start, start + timedelta(minutes=40))]
    assert local(free_slots(av, taken, day, day, LONG_AGO), ZoneInfo("UTC")) == ["2027-05-03 09:00"]


def test_a_full_day_offers_nothing_else():
    av = Availability(timezone="UTC", weekly_hours=every_day("09:00", "12:00"), max_per_day=2)
    day = date(2027, 5, 3)
    one = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
    two = datetime(2027, 5, 3, 11, 0, tzinfo=UTC)
    taken = [held_range(one, one + timedelta(minutes=30), 0)]
    assert len(free_slots(av, taken, day, day, LONG_AGO)) == 5
    taken.append(held_range(two, two + timedelta(minutes=30), 0))
    assert free_slots(av, taken, day, day, LONG_AGO) == []
    # The next day is untouched.
    assert len(free_slots(av, taken, day, day + timedelta(days=1), LONG_AGO)) == 6


def test_the_minimum_notice_hides_slots_too_soon():
    av = Availability(timezone="UTC", weekly_hours=every_day("08:00", "20:00"))
    now = datetime(2027, 5, 3, 7, 45, tzinfo=UTC)
    slots = free_slots(av, [], date(2027, 5, 3), date(2027, 5, 3), now)
    # 12 hours' notice by default: the earliest is 19:45, after the last slot (19:30).
    assert slots == []
    av = Availability(
        timezone="UTC", weekly_hours=every_day("08:00", "20:00"), minimum_notice_hours=2
    )
    slots = free_slots(av, [], date(2027, 5, 3), date(2027, 5, 3), now)
    assert slots[0].starts_at == datetime(2027, 5, 3, 10, 0, tzinfo=UTC)


ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "UTC"]
hours = st.builds(
    lambda day, a, b: WeeklySlot(day, time(*divmod(min(a, b), 60)), time(*divmod(max(a, b), 60))),
    st.integers(0, 6),
    st.integers(0, 24 * 60 - 1),
    st.integers(0, 24 * 60 - 1),
).filter(lambda s: s.start < s.end)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    weekly=st.lists(hours, max_size=4, unique_by=lambda s: s.day),
    slot_minutes=st.sampled_from([15, 20, 30, 45, 60]),
    buffer_minutes=st.sampled_from([0, 5, 15]),
    first=st.dates(date(2027, 1, 1), date(2027, 12, 20)),
    days=st.integers(0, 8),
    taken_at=st.lists(st.integers(0, 9 * 24 * 60), max_size=5),
    max_per_day=st.one_of(st.none(), st.integers(1, 4)),
)
def test_free_slots_never_overlap_what_is_taken_or_each_other(
    zone, weekly, slot_minutes, buffer_minutes, first, days, taken_at, max_per_day
):
    av = Availability(
        timezone=zone,
        weekly_hours=tuple(sorted(weekly)),
        slot_minutes=slot_minutes,
        buffer_minutes=buffer_minutes,
        max_per_day=max_per_day,
        minimum_notice_hours=0,
    )
    base = datetime.combine(first, time(0), tzinfo=UTC) - timedelta(days=1)
    taken = []
    for minutes in taken_at:
        start = base + timedelta(minutes=minutes)
        taken.append(held_range(start, start + timedelta(minutes=30), buffer_minutes))
    last = first + timedelta(days=days)
    slots = free_slots(av, taken, first, last, LONG_AGO)
    tz = ZoneInfo(zone)
    for slot in slots:
        assert slot.ends_at - slot.starts_at == timedelta(minutes=slot_minutes)
        assert first <= slot.starts_at.astimezone(tz).date() <= last
        lo, hi = held_range(slot.starts_at, slot.ends_at, buffer_minutes)
        assert not any(lo < t_hi and t_lo < hi for t_lo, t_hi in taken)
        # Inside the doctor's hours, and a time the request check accepts.
        check_request(av, slot.starts_at, LONG_AGO, 0)
    for before, after in pairwise(slots):
        assert before.ends_at + timedelta(minutes=buffer_minutes) <= after.starts_at
    if max_per_day is not None:
        for slot in slots:
            day = slot.starts_at.astimezone(tz).date()
            assert sum(1 for t, _ in taken if t.astimezone(tz).date() == day) < max_per_day


def _refused(av: Availability, when: datetime, now: datetime, taken: int = 0) -> Invalid:
    with pytest.raises(Invalid) as caught:
        check_request(av, when, now, taken)
    return caught.value


def test_check_request_says_why_a_time_is_refused():
    av = Availability(
        timezone="Europe/Berlin",
        weekly_hours=(make_slot(0, "09:00", "12:00"),),
        dates_off=frozenset({date(2027, 5, 10)}),
        minimum_notice_hours=24,
        max_per_day=3,
    )
    now = datetime(2027, 5, 1, 12, 0, tzinfo=UTC)
    monday_9 = datetime(2027, 5, 3, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert check_request(av, monday_9, now, 0) is None
    assert check_request(av, monday_9 + timedelta(minutes=150), now, 2) is None  # 11:30-12:00

    assert _refused(av, now - timedelta(minutes=1), now).code == "APPOINTMENT_IN_PAST"
    too_soon = _refused(av, monday_9, monday_9 - timedelta(hours=23))
    assert too_soon.code == "APPOINTMENT_TOO_SOON" and "24 hours" in too_soon.message
    day_off = _refused(av, monday_9 + timedelta(days=7), now)
    assert day_off.code == "DOCTOR_DAY_OFF" and "2027-05-10" in day_off.message
    outside = _refused(av, monday_9 - timedelta(hours=1), now)  # 08:00 local
    assert outside.code == "APPOINTMENT_OUTSIDE_HOURS"
    assert "monday 09:00-12:00" in outside.message and "Europe/Berlin" in outside.message
    # Starts inside but would end after 12:00.
    late = _refused(av, monday_9 + timedelta(minutes=160), now)
    assert late.code == "APPOINTMENT_OUTSIDE_HOURS"
    assert _refused(av, monday_9 + timedelta(days=1), now).code == "APPOINTMENT_OUTSIDE_HOURS"
    full = _refused(av, monday_9, now, 3)
    assert full.code == "DOCTOR_DAY_FULL" and "3" in full.message


def test_held_range_needs_an_end_after_the_start_and_aware_times():
    start = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="end after"):
        held_range(start, start, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        held_range(start.replace(tzinfo=None), start + timedelta(minutes=30), 0)


def test_availability_of_a_doctor_row_reads_the_stored_shape():
    class Row:
        timezone = None
        weekly_hours = [{"day": 0, "start": "09:00", "end": "12:00"}, {"day": "bad"}]
        dates_off = ["2027-05-10"]
        slot_minutes = 20
        buffer_minutes = 5
        minimum_notice_hours = 0
        max_per_day = None

    av = Availability.of(Row(), "Asia/Kolkata")
    assert av.timezone == "Asia/Kolkata"
    assert av.weekly_hours == (make_slot(0, "09:00", "12:00"),)
    assert av.dates_off == frozenset({date(2027, 5, 10)})
    assert (av.slot_minutes, av.buffer_minutes, av.minimum_notice_hours) == (20, 5, 0)
