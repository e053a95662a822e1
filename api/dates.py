"""Dates people give the API: whole-day ranges that hold at the ends of the calendar, and the
bounds of dates that must be plausible (births, requested and scheduled days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from runtime.settings import Settings

EARLIEST_BIRTH = date(1900, 1, 1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_after(day: date) -> datetime | None:
    """The first instant after `day` (UTC); None for the last day there is (no upper bound)."""
    if day == date.max:
        return None
    return day_start(day + timedelta(days=1))


def _plausible_birth(value: date | None) -> date | None:
    if value is None:
        return value
    if value < EARLIEST_BIRTH:
        raise ValueError(f"must be on or after {EARLIEST_BIRTH.isoformat()}")
    if value > datetime.now(UTC).date():
        raise ValueError("cannot be in the future")
    return value


BirthDate = Annotated[date | None, AfterValidator(_plausible_birth)]


def latest_plannable(settings: Settings) -> date:
    today = datetime.now(UTC).date()
    try:
        return today.replace(year=today.year + settings.max_years_ahead)
    except ValueError:  # 29 February
        return today.replace(year=today.year + settings.max_years_ahead, day=28)


def check_horizon(settings: Settings, **fields: date | datetime | None) -> None:
    """422 (as any field error) when a requested or scheduled day lies more than
    MEDIVOY_MAX_YEARS_AHEAD years ahead."""
    latest = latest_plannable(settings)
    problems = []
    for name, value in fields.items():
        if value is None:
            continue
        day = value.date() if isinstance(value, datetime) else value
        if day > latest:
            problems.append(
                {
                    "loc": ("body", name),
                    "msg": f"must be no later than {latest.isoformat()} "
                    f"({settings.max_years_ahead} years ahead)",
                    "type": "value_error",
                }
            )
    if problems:
        raise RequestValidationError(problems)
