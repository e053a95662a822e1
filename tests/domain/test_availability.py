"""Weekly availability: days, HH:MM hours, IANA zones and overlaps are checked before storing."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.availability import (
    AvailabilityError,
    WeeklySlot,
    check_no_overlap,
    check_timezone,
    legacy_timezone,
    make_slot,
    parse_clock,
    parse_day,
    read_hours,
    stored_hours,
)


@pytest.mark.parametrize(
    ("value", "day"),
    [(0, 0), (6, 6), ("monday", 0), ("Sunday", 6), ("wed", 2), (" FRI ", 4), ("3", 3)],
)
def test_days_are_numbers_from_monday_or_names(value, day):
    assert parse_day(value) == day


@pytest.mark.parametrize("value", [7, -1, True, "funday", "", "10", "mo"])
def test_unknown_days_are_refused(value):
    with pytest.raises(AvailabilityError):
        parse_day(value)


@pytest.mark.parametrize("value", ["9:00", "24:00", "12:60", "noon", "09:00:00", "0900", ""])
def test_hours_must_be_24_hour_hh_mm(value):
    with pytest.raises(AvailabilityError):
        parse_clock(value)


def test_hours_parse_to_times():
    assert parse_clock("09:30") == time(9, 30)
    assert parse_clock("23:59") == time(23, 59)


@pytest.mark.parametrize("name", ["Europe/Istanbul", "Asia/Kolkata", "UTC", "America/New_York"])
def test_iana_time_zones_are_accepted(name):
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "GMT+25", "", "../../etc/passwd", "/etc/localtime", "Europe/"]
)
def test_unknown_time_zones_and_paths_are_refused(name):
    with pytest.raises(AvailabilityError):
        check_timezone(name)


def test_a_slot_must_end_after_it_starts():
    with pytest.raises(AvailabilityError, match="end after"):
        make_slot("monday", "12:00", "12:00")
    with pytest.raises(AvailabilityError):
        make_slot(0, "22:00", "02:00")


def test_overlapping_slots_on_one_day_are_refused_touching_ones_are_not():
    morning = make_slot(0, "09:00", "12:00")
    with pytest.raises(AvailabilityError, match="overlap on monday"):
        check_no_overlap([morning, make_slot(0, "11:30", "14:00")])
    assert check_no_overlap([make_slot(0, "12:00", "14:00"), morning]) == [
        morning,
        make_slot(0, "12:00", "14:00"),
    ]
    assert len(check_no_overlap([morning, make_slot(1, "09:00", "12:00")])) == 2


def test_stored_hours_are_one_shape_and_old_rows_read_back():
    stored = stored_hours([make_slot("tue", "14:00", "18:00"), make_slot(0, "09:00", "12:00")])
    assert stored == [
        {"day": 0, "start": "09:00", "end": "12:00"},
        {"day": 1, "start": "14:00", "end": "18:00"},
    ]
    assert read_hours(stored) == [make_slot(0, "09:00", "12:00"), make_slot(1, "14:00", "18:00")]
    # The seeded shape that made the schedule answer 500 (issue 16), and junk, read safely.
    old = [{"day": "mon", "start": "09:00", "end": "13:00"}, {"day": "x"}, "junk", None]
    assert read_hours(old) == [make_slot(0, "09:00", "13:00")]
    assert read_hours(None) == []
    assert legacy_timezone([{"day": 1, "timezone": "Europe/Istanbul"}]) == "Europe/Istanbul"
    assert legacy_timezone(old) is None


slots = st.builds(
    lambda day, a, b: WeeklySlot(day, time(*divmod(min(a, b), 60)), time(*divmod(max(a, b), 60))),
    st.integers(0, 6),
    st.integers(0, 24 * 60 - 1),
    st.integers(0, 24 * 60 - 1),
).filter(lambda s: s.start < s.end)


@given(st.lists(slots, max_size=12))
def test_accepted_schedules_never_overlap(candidate):
    try:
        ordered = check_no_overlap(candidate)
    except AvailabilityError:
        # Refused only when two slots of one day really share some time.
        assert any(
            a is not b and a.day == b.day and a.start < b.end and b.start < a.end
            for a in candidate
            for b in candidate
        )
        return
    for a in ordered:
        for b in ordered:
            if a is not b and a.day == b.day:
                assert a.end <= b.start or b.end <= a.start
