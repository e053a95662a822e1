"""A doctor's availability and the free slots it gives, checked and computed here (pure).

Days count from Monday = 0 to Sunday = 6, like Python's `date.weekday()`; English day names and
their three-letter forms are accepted on write, and stored as the number. Hours are wall-clock
times in the doctor's zone, so a slot stays at 09:00 local across daylight-saving changes (its UTC
instant moves). A slot that ends when the next one starts does not overlap it.

The one stored shape (doctors.weekly_hours): `[{"day": 0-6, "start": "HH:MM", "end": "HH:MM"}]`
with the zone in doctors.timezone.

An appointment holds [start, end + buffer) (`held_range`): the buffer follows every consultation,
so two consultations of one doctor are always at least `buffer_minutes` apart, which the database
enforces with the exclusion constraint appointments_no_double_booking."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import Unprocessable

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SLOTS = 100
MAX_DATES_OFF = 400
# How far ahead a schedule is shown and a slot may be asked for.
MAX_DAYS_AHEAD = 180
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


def stored_hours(slots: Iterable[WeeklySlot]) -> list[dict[str, Any]]:
    """What doctors.weekly_hours stores, in weekly order; refuses overlaps."""
    return [
        {"day": s.day, "start": s.start.strftime("%H:%M"), "end": s.end.strftime("%H:%M")}
        for s in check_no_overlap(list(slots))
    ]


def read_hours(stored: Any) -> list[WeeklySlot]:
    """The weekly slots of a stored weekly_hours (or an old availability_slots) value; entries that
    cannot be read are left out, so a bad row never breaks a schedule."""
    found: list[WeeklySlot] = []
    for item in stored if isinstance(stored, list) else []:
        if not isinstance(item, Mapping):
            continue
        try:
            found.append(make_slot(item.get("day"), str(item.get("start")), str(item.get("end"))))  # type: ignore[arg-type]
        except (AvailabilityError, AttributeError, TypeError):
            continue
    return sorted(set(found))


def legacy_timezone(stored: Any) -> str | None:
    """The zone an old availability_slots value carried on its slots (None when none did)."""
    for item in stored if isinstance(stored, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("timezone"), str):
            try:
                return check_timezone(item["timezone"])
            except AvailabilityError:
                continue
    return None


def parse_dates_off(values: Iterable[Any]) -> list[date]:
    found: set[date] = set()
    for value in values:
        if isinstance(value, date):
            found.add(value)
            continue
        try:
            found.add(date.fromisoformat(str(value)))
        except ValueError as exc:
            raise AvailabilityError(f"'{value}' is not an ISO date such as 2027-03-28") from exc
    if len(found) > MAX_DATES_OFF:
        raise AvailabilityError(f"at most {MAX_DATES_OFF} dates off")
    return sorted(found)


@dataclass(frozen=True, order=True)
class Slot:
    """A consultation's time, aware UTC."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Availability:
    timezone: str = "UTC"
    weekly_hours: tuple[WeeklySlot, ...] = ()
    dates_off: frozenset[date] = field(default_factory=frozenset)
    slot_minutes: int = 30
    buffer_minutes: int = 0
    minimum_notice_hours: int = 12
    max_per_day: int | None = None

    @classmethod
    def of(cls, doctor: Any, default_timezone: str = "UTC") -> Availability:
        """A doctor row's (or anything with the same attributes) availability."""
        zone = getattr(doctor, "timezone", None) or default_timezone
        try:
            zone = check_timezone(zone)
        except AvailabilityError:
            zone = "UTC"
        try:
            off = frozenset(parse_dates_off(getattr(doctor, "dates_off", None) or []))
        except AvailabilityError:
            off = frozenset()
        return cls(
            timezone=zone,
            weekly_hours=tuple(read_hours(getattr(doctor, "weekly_hours", None))),
            dates_off=off,
            slot_minutes=int(getattr(doctor, "slot_minutes", None) or 30),
            buffer_minutes=int(getattr(doctor, "buffer_minutes", None) or 0),
            minimum_notice_hours=int(getattr(doctor, "minimum_notice_hours", None) or 0),
            max_per_day=getattr(doctor, "max_per_day", None),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def earliest(self, now: datetime) -> datetime:
        return now + timedelta(hours=self.minimum_notice_hours)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def held_range(
    starts_at: datetime, ends_at: datetime, buffer_minutes: int
) -> tuple[datetime, datetime]:
    """The time an appointment keeps from others, '[)': its own time and the buffer after it."""
    lo, hi = _aware(starts_at, "starts_at"), _aware(ends_at, "ends_at")
    if hi <= lo:
        raise ValueError("an appointment must end after it starts")
    return lo, hi + timedelta(minutes=max(buffer_minutes, 0))


def _wall(day: date, clock: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time on a local day; None when that time does not exist
    (skipped by a daylight-saving change). A repeated time is its first occurrence."""
    local = datetime.combine(day, clock, tzinfo=zone)
    instant = local.astimezone(UTC)
    back = instant.astimezone(zone)
    if (back.date(), back.time()) != (day, clock):
        return None
    return instant


def _day_slots(av: Availability, day: date) -> list[Slot]:
    """Every slot of the doctor's grid on one local day, taken or not."""
    if day in av.dates_off:
        return []
    zone = av.zone
    step = timedelta(minutes=av.slot_minutes + av.buffer_minutes)
    length = timedelta(minutes=av.slot_minutes)
    found: list[Slot] = []
    for window in av.weekly_hours:
        if window.day != day.weekday():
            continue
        wall = datetime.combine(day, window.start)
        wall_end = datetime.combine(day, window.end)
        while wall + length <= wall_end:
            instant = _wall(day, wall.time(), zone)
            if instant is not None:
                found.append(Slot(instant, instant + length))
            wall += step
    return sorted(found)


def _windows(av: Availability, day: date) -> list[tuple[datetime, datetime]]:
    """The doctor's hours on one local day as UTC instants."""
    zone = av.zone
    return [
        (
            datetime.combine(day, w.start, tzinfo=zone).astimezone(UTC),
            datetime.combine(day, w.end, tzinfo=zone).astimezone(UTC),
        )
        for w in av.weekly_hours
        if w.day == day.weekday()
    ]


def _overlaps(lo: datetime, hi: datetime, taken: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(lo < t_hi and t_lo < hi for t_lo, t_hi in taken)


def free_slots(
    av: Availability,
    taken: Sequence[tuple[datetime, datetime]],
    date_from: date,
    date_to: date,
    now: datetime,
    *,
    tz: str | None = None,
) -> list[Slot]:
    """The free slots whose start falls on date_from..date_to (inclusive) as dates in `tz` (the
    asker's zone; the doctor's by default), in time order. `taken` are the held ranges already
    kept (appointments, holds). A slot is free when it is at least the minimum notice ahead of
    now, its held range touches none taken, and its local day is not full (max_per_day)."""
    now = _aware(now, "now")
    view = ZoneInfo(tz) if tz else av.zone
    window_lo = datetime.combine(date_from, time(0), tzinfo=view).astimezone(UTC)
    window_hi = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=view).astimezone(UTC)
    earliest = av.earliest(now)
    taken = [(_aware(lo, "taken"), _aware(hi, "taken")) for lo, hi in taken]
    per_day: dict[date, int] = {}
    for lo, _hi in taken:
        per_day[av.local_day(lo)] = per_day.get(av.local_day(lo), 0) + 1
    found: list[Slot] = []
    day = av.local_day(window_lo)
    last = av.local_day(window_hi)
    while day <= last:
        full = av.max_per_day is not None and per_day.get(day, 0) >= av.max_per_day
        if not full:
            for slot in _day_slots(av, day):
                if not (window_lo <= slot.starts_at < window_hi) or slot.starts_at < earliest:
                    continue
                lo, hi = held_range(slot.starts_at, slot.ends_at, av.buffer_minutes)
                if not _overlaps(lo, hi, taken):
                    found.append(slot)
        day += timedelta(days=1)
    return sorted(set(found))


def check_request(
    av: Availability,
    starts_at: datetime,
    now: datetime,
    taken_that_day: int | Sequence[Any],
) -> None:
    """Refuses (Unprocessable, 422, with the reason) a consultation asked for at starts_at: in
    the past, within the minimum notice, on a date off, outside the weekly hours, or on a day
    already full. `taken_that_day` is the number (or the list) of consultations the doctor
    already has on that local day. Whether the time is still free is for the database (the
    exclusion constraint)."""
    start = _aware(starts_at, "starts_at")
    now = _aware(now, "now")
    local = start.astimezone(av.zone)
    if start <= now:
        raise Unprocessable("The requested time is in the past", code="APPOINTMENT_IN_PAST")
    earliest = av.earliest(now)
    if start < earliest:
        raise Unprocessable(
            f"This doctor needs {av.minimum_notice_hours} hours' notice: "
            f"the earliest time is {earliest.isoformat()}",
            code="APPOINTMENT_TOO_SOON",
            details={"earliest": earliest.isoformat()},
        )
    if local.date() in av.dates_off:
        raise Unprocessable(
            f"The doctor is off on {local.date().isoformat()}",
            code="DOCTOR_DAY_OFF",
            details={"date": local.date().isoformat()},
        )
    end = start + timedelta(minutes=av.slot_minutes)
    if not any(lo <= start and end <= hi for lo, hi in _windows(av, local.date())):
        hours = [f"{DAY_NAMES[w.day]} {w.start:%H:%M}-{w.end:%H:%M}" for w in av.weekly_hours]
        raise Unprocessable(
            f"{local:%A %H:%M} ({av.timezone}) is outside the doctor's hours"
            + (f": {', '.join(hours)} ({av.timezone})" if hours else ": none published"),
            code="APPOINTMENT_OUTSIDE_HOURS",
            details={"timezone": av.timezone, "weekly_hours": stored_hours(av.weekly_hours)},
        )
    count = taken_that_day if isinstance(taken_that_day, int) else len(taken_that_day)
    if av.max_per_day is not None and count >= av.max_per_day:
        raise Unprocessable(
            f"The doctor already has {av.max_per_day} consultations on {local.date().isoformat()}",
            code="DOCTOR_DAY_FULL",
            details={"date": local.date().isoformat(), "max_per_day": av.max_per_day},
        )
