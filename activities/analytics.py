"""The daily analytics roll-up: a day's figures computed from PostgreSQL (`day_figures`, also
what the API answers today with, live) and `roll_up_days`, which stores them in analytics_daily.

A day is a calendar day in the roll-up zone (MEDIVOY_ANALYTICS_TIMEZONE): [local midnight, next
local midnight), so a day across a DST change has 23 or 25 hours. Each figure is kept for the
whole platform (hospital_id NULL) and for the hospital it belongs to, so a hospital's numbers
never need another hospital's rows. The metrics (key: what the count is broken down by):

- bookings.created: bookings created that day; bookings.country (the patient's country),
  bookings.treatment (treatment id), bookings.hospital (hospital id, the platform's rows only);
- bookings.status: moves into each status that day (status history), stable once written;
- revenue.gross: money received that day (payments' payment_date), per currency;
  revenue.refunds: money given back that day (refund_date), per currency. Net is gross minus
  refunds of the same currency; nothing is ever summed across currencies;
- patients.new: the platform's new patients (registered that day), patients.country; a
  hospital's new patients are those whose first booking there was made that day;
- appointments.doctor (doctor id) and appointments.status, of appointments scheduled that day,
  counted for each hospital the doctor works at (hospital_doctors);
- hospitals.new, hospitals.country: hospitals that joined that day (the platform's rows).

Where MongoDB is configured, each rolled-up day is also written to its analytics collection
(activities/providers/analytics_sink.py).

Rolling a day up replaces its rows in one transaction under an advisory lock; row ids are uuid5
of the row's identity, so a day rolled up twice has exactly the same rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import and_, delete, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from temporalio import activity

from activities.providers.analytics_sink import AnalyticsSink
from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.appointments import Appointment
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Hospital, HospitalDoctor
from domain.models.payments import Payment
from domain.models.users import Patient
from domain.payment import PaymentStatus
from runtime.settings import Settings

ROW_NAMESPACE = uuid.UUID("0c8e3a1e-61c4-4f57-a2a4-5d7f1b2e9c33")
# Payments whose money arrived (later refunds do not undo the day it arrived).
RECEIVED = (
    PaymentStatus.COMPLETED.value,
    PaymentStatus.REFUNDED.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
)
# The longest backfill one activity call takes (a workflow asks for longer ranges in chunks).
MAX_DAYS_PER_CALL = 31


@dataclass(frozen=True, order=True)
class FigureKey:
    hospital_id: str  # "" for the platform (sortable; uuid or None would not be)
    metric: str
    key: str
    currency: str


@dataclass
class Figure:
    count: int = 0
    amount: Decimal | None = None

    def add(self, count: int, amount: Decimal | None = None) -> None:
        self.count += count
        if amount is not None:
            self.amount = (self.amount or Decimal(0)) + amount


Figures = dict[FigureKey, Figure]


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's [start, end) in UTC: local midnight to the next local midnight."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


class _Tally:
    def __init__(self) -> None:
        self.figures: Figures = defaultdict(Figure)

    def add(
        self,
        hospital: uuid.UUID | None,
        metric: str,
        key: object = "",
        count: int = 1,
        amount: Decimal | None = None,
        currency: str = "",
        *,
        platform: bool = True,
    ) -> None:
        label = "" if key is None else str(key)
        if platform:
            self.figures[FigureKey("", metric, label, currency)].add(count, amount)
        if hospital is not None:
            self.figures[FigureKey(str(hospital), metric, label, currency)].add(count, amount)


async def day_figures(session: AsyncSession, day: date, zone: ZoneInfo) -> Figures:
    """Every figure of the day (see the module's docstring), read from PostgreSQL."""
    start, end = day_bounds(day, zone)
    tally = _Tally()

    created = await session.execute(
        select(Booking.hospital_id, Booking.treatment_id, Patient.country, func.count())
        .join(Patient, Patient.id == Booking.patient_id)
        .where(_in(Booking.created_at, start, end))
        .group_by(Booking.hospital_id, Booking.treatment_id, Patient.country)
    )
    for hospital, treatment, country, n in created:
        tally.add(hospital, "bookings.created", count=n)
        tally.add(hospital, "bookings.country", country or "", count=n)
        tally.add(hospital, "bookings.treatment", treatment or "", count=n)
        tally.add(None, "bookings.hospital", hospital or "", count=n)

    moves = await session.execute(
        select(Booking.hospital_id, BookingStatusHistory.to_status, func.count())
        .join(Booking, Booking.id == BookingStatusHistory.booking_id)
        .where(_in(BookingStatusHistory.created_at, start, end))
        .group_by(Booking.hospital_id, BookingStatusHistory.to_status)
    )
    for hospital, status, n in moves:
        tally.add(hospital, "bookings.status", status, count=n)

    received = await session.execute(
        select(Booking.hospital_id, Payment.currency, func.count(), func.sum(Payment.amount))
        .select_from(Payment)
        .outerjoin(Booking, Booking.id == Payment.booking_id)
        .where(Payment.status.in_(RECEIVED), _in(Payment.payment_date, start, end))
        .group_by(Booking.hospital_id, Payment.currency)
    )
    for hospital, currency, n, total in received:
        tally.add(hospital, "revenue.gross", count=n, amount=total, currency=currency)

    refunded = await session.execute(
        select(Booking.hospital_id, Payment.currency, func.count(), func.sum(Payment.refund_amount))
        .select_from(Payment)
        .outerjoin(Booking, Booking.id == Payment.booking_id)
        .where(Payment.refund_amount > 0, _in(Payment.refund_date, start, end))
        .group_by(Booking.hospital_id, Payment.currency)
    )
    for hospital, currency, n, back in refunded:
        tally.add(hospital, "revenue.refunds", count=n, amount=back, currency=currency)

    registered = await session.execute(
        select(Patient.country, func.count())
        .where(_in(Patient.created_at, start, end))
        .group_by(Patient.country)
    )
    for country, n in registered:
        tally.add(None, "patients.new", count=n)
        tally.add(None, "patients.country", country or "", count=n)
    # A hospital's new patients: booked there that day, and never there before.
    earlier = aliased(Booking)
    firsts = await session.execute(
        select(Booking.hospital_id, func.count(func.distinct(Booking.patient_id)))
        .where(
            Booking.hospital_id.is_not(None),
            _in(Booking.created_at, start, end),
            ~exists().where(
                earlier.patient_id == Booking.patient_id,
                earlier.hospital_id == Booking.hospital_id,
                earlier.created_at < start,
            ),
        )
        .group_by(Booking.hospital_id)
    )
    for hospital, n in firsts:
        tally.add(hospital, "patients.new", count=n, platform=False)

    appointments = await session.execute(
        select(Appointment.doctor_id, Appointment.status, func.count())
        .where(_in(Appointment.scheduled_date, start, end))
        .group_by(Appointment.doctor_id, Appointment.status)
    )
    by_doctor = list(appointments)
    if by_doctor:
        works_at: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        affiliations = await session.execute(
            select(HospitalDoctor.doctor_id, HospitalDoctor.hospital_id).where(
                HospitalDoctor.doctor_id.in_({doctor for doctor, _, _ in by_doctor})
            )
        )
        for doctor, hospital in affiliations:
            works_at[doctor].append(hospital)
        for doctor, status, n in by_doctor:
            tally.add(None, "appointments.doctor", doctor, count=n)
            tally.add(None, "appointments.status", status, count=n)
            for hospital in works_at.get(doctor, []):
                tally.add(hospital, "appointments.doctor", doctor, count=n, platform=False)
                tally.add(hospital, "appointments.status", status, count=n, platform=False)

    joined = await session.execute(
        select(Hospital.country, func.count())
        .where(_in(Hospital.created_at, start, end))
        .group_by(Hospital.country)
    )
    for country, n in joined:
        tally.add(None, "hospitals.new", count=n)
        tally.add(None, "hospitals.country", country or "", count=n)

    return dict(tally.figures)


def row_id(day: date, key: FigureKey) -> uuid.UUID:
    return uuid.uuid5(
        ROW_NAMESPACE, f"{day.isoformat()}|{key.hospital_id}|{key.metric}|{key.key}|{key.currency}"
    )


async def store_day(session: AsyncSession, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Replace the day's rows with its figures now (in the caller's transaction). The advisory
    lock serializes two roll-ups of one day (a backfill and the schedule)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('analytics_daily'), :day)"),
        {"day": day.toordinal()},
    )
    figures = await day_figures(session, day, zone)
    await session.execute(delete(AnalyticsDaily).where(AnalyticsDaily.day == day))
    rows = [
        {
            "id": row_id(day, k),
            "day": day,
            "hospital_id": uuid.UUID(k.hospital_id) if k.hospital_id else None,
            "metric": k.metric,
            "key": k.key,
            "currency": k.currency,
            "count": f.count,
            "amount": f.amount,
        }
        for k, f in sorted(figures.items())
    ]
    if rows:
        await session.execute(insert(AnalyticsDaily), rows)
    marker = insert(AnalyticsDay).values(day=day, timezone=zone.key, rows=len(rows))
    await session.execute(
        marker.on_conflict_do_update(
            index_elements=[AnalyticsDay.day],
            set_={"timezone": zone.key, "rows": len(rows), "computed_at": func.now()},
        )
    )
    return rows


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


class RollUpInput(BaseModel):
    """The days to roll up, first..last inclusive; none given: the day before `as_of` in the
    roll-up zone (the schedule's run at local midnight rolls up the day that just ended)."""

    first: date | None = None
    last: date | None = None
    as_of: datetime | None = None
    # With no range: also the days this far before yesterday that were never rolled up (the
    # worker was down at their midnight).
    catch_up_days: int = Field(default=0, ge=0, le=MAX_DAYS_PER_CALL - 1)


class RolledUpDay(BaseModel):
    day: date
    rows: int


class RollUpResult(BaseModel):
    timezone: str
    days: list[RolledUpDay]


class AnalyticsActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        sink: AnalyticsSink | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._zone = ZoneInfo(settings.analytics_timezone)
        self._sink = sink

    @activity.defn
    async def roll_up_analytics_days(self, request: RollUpInput) -> RollUpResult:
        """Roll up first..last (at most MAX_DAYS_PER_CALL days), or the day that just ended
        and the missed days before it."""
        if request.first is not None or request.last is not None:
            first = request.first or request.last
            last = request.last or request.first
            assert first is not None and last is not None
            if last < first:
                first, last = last, first
            if (last - first).days >= MAX_DAYS_PER_CALL:
                raise ValueError(f"at most {MAX_DAYS_PER_CALL} days per call")
            days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        else:
            as_of = request.as_of or datetime.now(UTC)
            yesterday = local_day(as_of, self._zone) - timedelta(days=1)
            window = [yesterday - timedelta(days=i) for i in range(request.catch_up_days, 0, -1)]
            async with self._sessionmaker() as session:
                done = (
                    set(
                        await session.scalars(
                            select(AnalyticsDay.day).where(AnalyticsDay.day.in_(window))
                        )
                    )
                    if window
                    else set()
                )
            days = [d for d in window if d not in done] + [yesterday]
        rolled: list[RolledUpDay] = []
        for day in days:
            async with self._sessionmaker() as session, session.begin():
                rows = await store_day(session, day, self._zone)
            if self._sink is not None:
                # After the commit: PostgreSQL is the truth, the sink a copy of the day.
                await self._sink.replace_day(day, rows)
            rolled.append(RolledUpDay(day=day, rows=len(rows)))
            if activity.in_activity():
                activity.heartbeat(day.isoformat())
        return RollUpResult(timezone=self._zone.key, days=rolled)


def analytics_activity_list(
    activities: AnalyticsActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    return [activities.roll_up_analytics_days]
