"""A doctor's weekly availability: days, "HH:MM" hours and one IANA time zone, checked here.

Days count from Monday = 0 to Sunday = 6, like Python's `date.weekday()`; English day names and
their three-letter forms are accepted too. Hours are wall-clock times in the schedule's zone, so
a slot stays at 09:00 local across daylight-saving changes. A slot that ends when the next one
starts does not overlap it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SLOTS = 100
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")


class AvailabilityError(ValueError):
    """A schedule that cannot be stored; the message says what to fix."""


def parse_day(value: int | str) -> int:
    """0-6 (Monday first), or a day name such as "monday" or "Mon"."""
    if isinstance(value, bool):
        raise AvailabilityError("day must be 0-6 (Monday = 0) or a day name")
    if isinstance(value, int):
        if 0 <= value <= 6:
            return value
        raise AvailabilityError("day must be 0-6 (Monday = 0) or a day name")
    name = value.strip().lower()
    if name.isdigit() and len(name) == 1 and int(name) <= 6:
        return int(name)
    for index, day in enumerate(DAY_NAMES):
        if name in (day, day[:3]):
            return index
    raise AvailabilityError(f"'{value}' is not a day: use 0-6 (Monday = 0) or a day name")


def parse_clock(value: str) -> time:
    """A 24-hour "HH:MM" wall-clock time."""
    match = _CLOCK.match(value.strip())
    if match is None:
        raise AvailabilityError(f"'{value}' is not a time: use 24-hour HH:MM, e.g. 09:30")
    return time(int(match.group(1)), int(match.group(2)))


def check_timezone(name: str) -> str:
    """The name, if it is an IANA time zone this system knows (e.g. "Europe/Istanbul")."""
    candidate = name.strip()
    # Refuse paths before asking zoneinfo, which would otherwise look them up as files.
    if not _ZONE_NAME.match(candidate) or ".." in candidate:
        raise AvailabilityError(f"'{name}' is not an IANA time zone such as Europe/Istanbul")
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AvailabilityError(
            f"'{name}' is not an IANA time zone such as Europe/Istanbul"
        ) from exc
    return candidate


@dataclass(frozen=True, order=True)
class WeeklySlot:
    day: int
    start: time
    end: time

    def as_json(self, timezone: str) -> dict[str, Any]:
        return {
            "day": self.day,
            "day_name": DAY_NAMES[self.day],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "timezone": timezone,
        }


def make_slot(day: int | str, start: str, end: str) -> WeeklySlot:
    slot = WeeklySlot(parse_day(day), parse_clock(start), parse_clock(end))
    if slot.start >= slot.end:
        raise AvailabilityError(
            f"a slot must end after it starts ({start} is not before {end}); "
            "split a slot that crosses midnight into two days"
        )
    return slot


def check_no_overlap(slots: list[WeeklySlot]) -> list[WeeklySlot]:
    """The slots in weekly order; refuses two slots of the same day that overlap."""
    if len(slots) > MAX_SLOTS:
        raise AvailabilityError(f"at most {MAX_SLOTS} slots a week")
    ordered = sorted(slots)
    for before, after in pairwise(ordered):
        if before.day == after.day and after.start < before.end:
            raise AvailabilityError(
                f"slots overlap on {DAY_NAMES[before.day]}: "
                f"{before.start:%H:%M}-{before.end:%H:%M} and {after.start:%H:%M}-{after.end:%H:%M}"
            )
    return ordered


def weekly_schedule(timezone: str, slots: list[WeeklySlot]) -> list[dict[str, Any]]:
    """What `doctors.availability_slots` stores: every slot carries the schedule's one zone."""
    zone = check_timezone(timezone)
    return [slot.as_json(zone) for slot in check_no_overlap(slots)]


def schedule_timezone(stored: list[Any] | None) -> str | None:
    """The zone of a stored schedule (None when the doctor has not published one)."""
    for slot in stored or []:
        if isinstance(slot, dict) and isinstance(slot.get("timezone"), str):
            return str(slot["timezone"])
    return None
