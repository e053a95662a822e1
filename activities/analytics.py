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
  revenue.refunds: money given back that day, per currency: each refund on its own day
  (payment_refunds, one row per refund), of payments whose money was counted received. Net is
  gross minus refunds of the same currency; nothing is ever summed across currencies;
- subscriptions.revenue / subscriptions.refunds: the same for subscriptions' payments, counted
  for the platform and the subscribing hospital; subscriptions.new (first paid: incomplete →
  active) and subscriptions.churned (ended after being paid: active or past_due → cancelled or
  expired), from their status history;
- patients.new: the platform's new patients (registered that day), patients.country; a
  hospital's new patients are those whose first booking there was made that day;
- appointments.doctor (doctor id) and appointments.status, of appointments scheduled that day,
  counted for each hospital the doctor works at (hospital_doctors). Their status changes after
  the day: a move of one marks its past day stale (mark_days_changed, by the appointment's
  status activity), answers compute a stale day live, and the next scheduled run rolls it up
  again;
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
from sqlalchemy import (
    Numeric,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from temporalio import activity

from activities.providers.analytics_sink import AnalyticsSink
from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.appointments import Appointment
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Hospital, HospitalDoctor
from domain.models.payments import Payment, PaymentRefund
from domain.models.subscriptions import Subscription, SubscriptionStatusHistory
from domain.models.users import Patient
from domain.payment import PaymentStatus
from domain.subscription import SubscriptionStatus
from runtime.settings import Settings

ROW_NAMESPACE = uuid.UUID("0c8e3a1e-61c4-4f57-a2a4-5d7f1b2e9c33")
# Payments whose money arrived (later refunds do not undo the day it arrived).
RECEIVED = (
    PaymentStatus.COMPLETED.value,
    PaymentStatus.REFUNDED.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
)
# A subscriber: a subscription that was paid for; it churns when it ends from there.
SUBSCRIBED = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)
ENDED = (SubscriptionStatus.CANCELLED.value, SubscriptionStatus.EXPIRED.value)
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


def _part(kind: str, hospital: Any, a: Any, b: Any, n: Any, amount: Any) -> Any:
    """One part of the day's single query, in the shape every part shares."""
    none = null()
    return (
        literal(kind, String).label("kind"),
        (none if hospital is None else hospital).label("hospital_id"),
        cast(none if a is None else a, String).label("a"),
        cast(none if b is None else b, String).label("b"),
        n.label("n"),
        cast(none if amount is None else amount, Numeric(14, 2)).label("amount"),
    )


def _money_parts(
    prefix: str,
    owner: Any,
    hospital: Any,
    payment_owner: Any,
    start: datetime,
    end: datetime,
    *,
    outer: bool = False,
) -> list[Any]:
    """Two parts of the day's query for one kind of owner of payments: `<prefix>received`, what
    was received that day, and `<prefix>refunded`, each refund on its own day (payment_refunds)
    of money that was counted received; per the owner's hospital and currency. `outer`: a
    payment without that owner still counts (hospital None), else only the owner's payments."""

    def joined(query: Any) -> Any:
        on = owner.id == payment_owner
        return query.outerjoin(owner, on) if outer else query.join(owner, on)

    received = joined(
        select(
            *_part(
                f"{prefix}received",
                hospital,
                Payment.currency,
                None,
                func.count(),
                func.sum(Payment.amount),
            )
        ).select_from(Payment)
    )
    refunded = joined(
        select(
            *_part(
                f"{prefix}refunded",
                hospital,
                PaymentRefund.currency,
                None,
                func.count(),
                func.sum(PaymentRefund.amount),
            )
        )
        .select_from(PaymentRefund)
        .join(Payment, Payment.id == PaymentRefund.payment_id)
    )
    return [
        received.where(
            Payment.status.in_(RECEIVED), _in(Payment.payment_date, start, end)
        ).group_by(hospital, Payment.currency),
        refunded.where(
            Payment.status.in_(RECEIVED), _in(PaymentRefund.refunded_at, start, end)
        ).group_by(hospital, PaymentRefund.currency),
    ]


def _day_query(start: datetime, end: datetime) -> Any:
    """Every figure of [start, end) in one round trip: a UNION ALL of one part per source."""
    earlier = aliased(Booking)
    in_range = _in(Appointment.scheduled_date, start, end)
    parts = [
        select(
            *_part(
                "created",
                Booking.hospital_id,
                Booking.treatment_id,
                Patient.country,
                func.count(),
                None,
            )
        )
        .join(Patient, Patient.id == Booking.patient_id)
        .where(_in(Booking.created_at, start, end))
        .group_by(Booking.hospital_id, Booking.treatment_id, Patient.country),
        select(
            *_part(
                "moved",
                Booking.hospital_id,
                BookingStatusHistory.to_status,
                None,
                func.count(),
                None,
            )
        )
        .join(Booking, Booking.id == BookingStatusHistory.booking_id)
        .where(_in(BookingStatusHistory.created_at, start, end))
        .group_by(Booking.hospital_id, BookingStatusHistory.to_status),
        # Money per owner: a booking's (its hospital) and a subscription's (its hospital, if any).
        *_money_parts("", Booking, Booking.hospital_id, Payment.booking_id, start, end, outer=True),
        *_money_parts(
            "sub_", Subscription, Subscription.hospital_id, Payment.subscription_id, start, end
        ),
        # Subscriptions that started (their first payment made them active) or ended after
        # having been active (churn); an unpaid one that lapses was never a subscriber.
        select(
            *_part(
                "sub_moved",
                Subscription.hospital_id,
                SubscriptionStatusHistory.to_status,
                None,
                func.count(),
                None,
            )
        )
        .join(Subscription, Subscription.id == SubscriptionStatusHistory.subscription_id)
        .where(
            _in(SubscriptionStatusHistory.created_at, start, end),
            or_(
                and_(
                    SubscriptionStatusHistory.from_status == SubscriptionStatus.INCOMPLETE.value,
                    SubscriptionStatusHistory.to_status == SubscriptionStatus.ACTIVE.value,
                ),
                and_(
                    SubscriptionStatusHistory.from_status.in_(SUBSCRIBED),
                    SubscriptionStatusHistory.to_status.in_(ENDED),
                ),
            ),
        )
        .group_by(Subscription.hospital_id, SubscriptionStatusHistory.to_status),
        select(*_part("registered", None, Patient.country, None, func.count(), None))
        .where(_in(Patient.created_at, start, end))
        .group_by(Patient.country),
        # A hospital's new patients: booked there that day, and never there before.
        select(
            *_part(
                "first",
                Booking.hospital_id,
                None,
                None,
                func.count(func.distinct(Booking.patient_id)),
                None,
            )
        )
        .where(
            Booking.hospital_id.is_not(None),
            _in(Booking.created_at, start, end),
            ~exists().where(
                earlier.patient_id == Booking.patient_id,
                earlier.hospital_id == Booking.hospital_id,
                earlier.created_at < start,
            ),
        )
        .group_by(Booking.hospital_id),
        select(
            *_part(
                "appointment",
                None,
                Appointment.doctor_id,
                Appointment.status,
                func.count(),
                None,
            )
        )
        .where(in_range)
        .group_by(Appointment.doctor_id, Appointment.status),
        # The hospitals of the day's doctors (their appointments count for each).
        select(
            *_part(
                "works_at",
                HospitalDoctor.hospital_id,
                HospitalDoctor.doctor_id,
                None,
                func.count(),
                None,
            )
        )
        .where(HospitalDoctor.doctor_id.in_(select(Appointment.doctor_id).where(in_range)))
        .group_by(HospitalDoctor.hospital_id, HospitalDoctor.doctor_id),
        select(*_part("joined", None, Hospital.country, None, func.count(), None))
        .where(_in(Hospital.created_at, start, end))
        .group_by(Hospital.country),
    ]
    return union_all(*parts)


async def day_figures(session: AsyncSession, day: date, zone: ZoneInfo) -> Figures:
    """Every figure of the day (see the module's docstring), read from PostgreSQL."""
    start, end = day_bounds(day, zone)
    tally = _Tally()
    appointments: list[tuple[str, str, int]] = []
    works_at: dict[str, list[uuid.UUID]] = defaultdict(list)
    for kind, hospital, a, b, n, amount in await session.execute(_day_query(start, end)):
        if kind == "created":
            tally.add(hospital, "bookings.created", count=n)
            tally.add(hospital, "bookings.country", b or "", count=n)
            tally.add(hospital, "bookings.treatment", a or "", count=n)
            tally.add(None, "bookings.hospital", hospital or "", count=n)
        elif kind == "moved":
            tally.add(hospital, "bookings.status", a, count=n)
        elif kind == "received":
            tally.add(hospital, "revenue.gross", count=n, amount=amount, currency=a)
        elif kind == "refunded":
            tally.add(hospital, "revenue.refunds", count=n, amount=amount, currency=a)
        elif kind == "sub_received":
            tally.add(hospital, "subscriptions.revenue", count=n, amount=amount, currency=a)
        elif kind == "sub_refunded":
            tally.add(hospital, "subscriptions.refunds", count=n, amount=amount, currency=a)
        elif kind == "sub_moved":
            new = a == SubscriptionStatus.ACTIVE.value
            tally.add(hospital, "subscriptions.new" if new else "subscriptions.churned", count=n)
        elif kind == "registered":
            tally.add(None, "patients.new", count=n)
            tally.add(None, "patients.country", a or "", count=n)
        elif kind == "first":
            tally.add(hospital, "patients.new", count=n, platform=False)
        elif kind == "appointment":
            appointments.append((a, b, n))
        elif kind == "works_at":
            works_at[a].append(hospital)
        elif kind == "joined":
            tally.add(None, "hospitals.new", count=n)
            tally.add(None, "hospitals.country", a or "", count=n)
    for doctor, status, n in appointments:
        tally.add(None, "appointments.doctor", doctor, count=n)
        tally.add(None, "appointments.status", status, count=n)
        for hospital in works_at.get(doctor, []):
            tally.add(hospital, "appointments.doctor", doctor, count=n, platform=False)
            tally.add(hospital, "appointments.status", status, count=n, platform=False)
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
    # The day's marker first: it locks the row, so an appointment's change marking the day
    # stale (mark_days_changed) either commits before the figures are read (and is counted) or
    # waits for this transaction and marks the day stale after it.
    await session.execute(
        insert(AnalyticsDay)
        .values(day=day, timezone=zone.key, rows=0, stale=False)
        .on_conflict_do_update(index_elements=[AnalyticsDay.day], set_={"stale": False})
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
            set_={
                "timezone": zone.key,
                "rows": len(rows),
                "computed_at": func.now(),
                "stale": False,
            },
        )
    )
    return rows


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


async def mark_days_changed(
    session: AsyncSession, moments: list[datetime], zone: ZoneInfo, now: datetime
) -> None:
    """The past days (in the roll-up zone) of these instants changed after they may have been
    rolled up: mark them stale (in the caller's transaction), so answers compute them live and
    the next scheduled roll-up redoes them. Today is live anyway; a future day is not rolled."""
    today = local_day(now, zone)
    days = sorted({local_day(m, zone) for m in moments})
    for day in (d for d in days if d < today):
        await session.execute(
            insert(AnalyticsDay)
            .values(day=day, timezone=zone.key, rows=0, stale=True)
            .on_conflict_do_update(index_elements=[AnalyticsDay.day], set_={"stale": True})
        )


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
                            select(AnalyticsDay.day).where(
                                AnalyticsDay.day.in_(window), AnalyticsDay.stale.is_(False)
                            )
                        )
                    )
                    if window
                    else set()
                )
                # Days changed since they were rolled up, however old (the oldest first).
                stale = set(
                    await session.scalars(
                        select(AnalyticsDay.day)
                        .where(AnalyticsDay.stale.is_(True), AnalyticsDay.day < yesterday)
                        .order_by(AnalyticsDay.day)
                        .limit(MAX_DAYS_PER_CALL)
                    )
                )
            days = sorted((stale | {d for d in window if d not in done}) - {yesterday})
            days.append(yesterday)
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
