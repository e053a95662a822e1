"""Analytics answers: the figures of a date range for the platform or one hospital, grouped by
day, week or month. Past days come from the roll-up (analytics_daily); today, and any past day
the roll-up has not computed yet, are computed live by the roll-up's own query
(activities.analytics.day_figures), so both always agree. Money stays per currency."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from activities.analytics import Figure, Figures, day_bounds, day_figures
from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.subscriptions import Subscription, SubscriptionStatusHistory
from domain.subscription import SubscriptionStatus

GroupBy = Literal["day", "week", "month"]
# The longest range one answer covers.
MAX_RANGE_DAYS = 731
Metrics = dict[str, dict[str, Figure]]  # metric -> key (or currency) -> figure
SERIAL_PLANS = text("SELECT set_config('max_parallel_workers_per_gather', '0', true)")


def bucket(day: date, group_by: GroupBy) -> date:
    """The first day of the period the day falls in (weeks start on Monday, ISO 8601)."""
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


async def daily_metrics(
    session: AsyncSession,
    first: date,
    last: date,
    hospital_id: uuid.UUID | None,
    zone: ZoneInfo,
    now: datetime,
    metrics: frozenset[str] | None = None,
) -> dict[date, Metrics]:
    """metric -> key -> figure for each day first..last of the scope (None: the platform);
    only these metrics when given."""
    return (await scopes_daily_metrics(session, first, last, [hospital_id], zone, now, metrics))[
        hospital_id
    ]


async def scopes_daily_metrics(
    session: AsyncSession,
    first: date,
    last: date,
    hospital_ids: Sequence[uuid.UUID | None],
    zone: ZoneInfo,
    now: datetime,
    metrics: frozenset[str] | None = None,
) -> dict[uuid.UUID | None, dict[date, Metrics]]:
    """daily_metrics for several scopes at once: the roll-up's rows of every scope in one
    query, and each day not rolled up (today) computed live once for all of them."""
    today = now.astimezone(zone).date()
    last = min(last, today)
    found: dict[uuid.UUID | None, dict[date, Metrics]] = {
        scope: defaultdict(lambda: defaultdict(dict)) for scope in hospital_ids
    }
    if last < first or not hospital_ids:
        return found
    rolled: set[date] = set()
    if first < today:
        # The days rolled up (in this zone) and their rows, in one round trip: a day rolled up
        # with no rows of these metrics still counts as rolled up (zero, not live).
        hospitals = [h for h in hospital_ids if h is not None]
        scope = or_(
            *([AnalyticsDaily.hospital_id.is_(None)] if None in hospital_ids else []),
            *([AnalyticsDaily.hospital_id.in_(hospitals)] if hospitals else []),
        )
        rows = await session.execute(
            select(
                AnalyticsDay.day,
                AnalyticsDaily.hospital_id,
                AnalyticsDaily.metric,
                AnalyticsDaily.key,
                AnalyticsDaily.currency,
                AnalyticsDaily.count,
                AnalyticsDaily.amount,
            )
            .select_from(AnalyticsDay)
            .outerjoin(
                AnalyticsDaily,
                and_(
                    AnalyticsDaily.day == AnalyticsDay.day,
                    scope,
                    *([AnalyticsDaily.metric.in_(metrics)] if metrics is not None else []),
                ),
            )
            .where(
                AnalyticsDay.day >= first,
                AnalyticsDay.day <= last,
                AnalyticsDay.day < today,
                # A day rolled up in another zone (the setting changed since) is computed live
                # until it is rolled up again.
                AnalyticsDay.timezone == zone.key,
                # Changed since it was rolled up (an appointment of the day moved): live.
                AnalyticsDay.stale.is_(False),
            )
        )
        for day, hospital, metric, key, currency, count, amount in rows:
            rolled.add(day)
            if metric is not None:
                found[hospital][day][metric][currency or key] = Figure(count, amount)
    wanted = {("" if h is None else str(h)): h for h in hospital_ids}
    if any(first + timedelta(days=i) not in rolled for i in range((last - first).days + 1)):
        # A day's live figures are a handful of small index reads: a parallel plan (two more
        # server processes started for each query) costs more than it saves, two to three
        # times the serial plan on a busy machine (bench/README.md). For this transaction only.
        await session.execute(SERIAL_PLANS)
    day = first
    while day <= last:
        for scope_days in found.values():
            scope_days[day]  # every day of the range is a period, zero or not
        if day not in rolled:
            live: Figures = await day_figures(session, day, zone)
            for k, figure in live.items():
                if k.hospital_id in wanted and (metrics is None or k.metric in metrics):
                    found[wanted[k.hospital_id]][day][k.metric][k.currency or k.key] = figure
        day += timedelta(days=1)
    return found


def _count(metrics: Metrics, metric: str) -> int:
    return sum(f.count for f in metrics.get(metric, {}).values())


def _counts(metrics: Metrics, metric: str) -> dict[str, int]:
    return {k: f.count for k, f in sorted(metrics.get(metric, {}).items())}


def _merge(into: Metrics, other: Metrics) -> None:
    for metric, keyed in other.items():
        target = into.setdefault(metric, {})
        for key, figure in keyed.items():
            total = target.setdefault(key, Figure())
            total.add(figure.count, figure.amount)


def _money(
    metrics: Metrics, gross_metric: str = "revenue.gross", refunds_metric: str = "revenue.refunds"
) -> dict[str, dict[str, Any]]:
    """Per currency: received (gross), refunded and net, with the number of payments and
    refunds. Never a total across currencies."""
    gross, refunds = metrics.get(gross_metric, {}), metrics.get(refunds_metric, {})
    out: dict[str, dict[str, Any]] = {}
    for currency in sorted(set(gross) | set(refunds)):
        g = gross.get(currency, Figure())
        r = refunds.get(currency, Figure())
        received, refunded = g.amount or Decimal("0.00"), r.amount or Decimal("0.00")
        out[currency] = {
            "gross": str(received),
            "refunds": str(refunded),
            "net": str(received - refunded),
            "payments": g.count,
            "refund_count": r.count,
        }
    return out


def bookings_view(m: Metrics) -> dict[str, Any]:
    return {
        "bookings": _count(m, "bookings.created"),
        "by_status": _counts(m, "bookings.status"),
        "by_country": _counts(m, "bookings.country"),
        "by_treatment": _counts(m, "bookings.treatment"),
        "by_hospital": _counts(m, "bookings.hospital"),
    }


def patients_view(m: Metrics) -> dict[str, Any]:
    return {"new_patients": _count(m, "patients.new"), "by_country": _counts(m, "patients.country")}


def doctors_view(m: Metrics) -> dict[str, Any]:
    return {
        "appointments": _count(m, "appointments.status"),
        "by_doctor": _counts(m, "appointments.doctor"),
        "by_status": _counts(m, "appointments.status"),
    }


def hospitals_view(m: Metrics) -> dict[str, Any]:
    return {
        "new_hospitals": _count(m, "hospitals.new"),
        "by_country": _counts(m, "hospitals.country"),
        "bookings_by_hospital": _counts(m, "bookings.hospital"),
    }


def subscriptions_view(m: Metrics) -> dict[str, Any]:
    """What subscribers paid (per currency, refunds on their day), subscriptions that started
    and that churned; the totals also hold by_status (answer())."""
    return {
        "revenue": _money(m, "subscriptions.revenue", "subscriptions.refunds"),
        "new": _count(m, "subscriptions.new"),
        "churned": _count(m, "subscriptions.churned"),
    }


def hospital_overview_view(m: Metrics) -> dict[str, Any]:
    """The overview of /hospitals/{id}/analytics (its staff too): no subscription money."""
    return {
        "bookings": _count(m, "bookings.created"),
        "by_status": _counts(m, "bookings.status"),
        "revenue": _money(m),
        "new_patients": _count(m, "patients.new"),
        "appointments": _count(m, "appointments.status"),
        "new_hospitals": _count(m, "hospitals.new"),
    }


def overview_view(m: Metrics) -> dict[str, Any]:
    return {**hospital_overview_view(m), "subscriptions": subscriptions_view(m)}


def revenue_view(m: Metrics) -> dict[str, Any]:
    return {"currencies": _money(m), "subscriptions": subscriptions_view(m)}


SUBSCRIPTION_METRICS = frozenset(
    {
        "subscriptions.revenue",
        "subscriptions.refunds",
        "subscriptions.new",
        "subscriptions.churned",
    }
)
HOSPITAL_OVERVIEW_METRICS = frozenset(
    {
        "bookings.created",
        "bookings.status",
        "revenue.gross",
        "revenue.refunds",
        "patients.new",
        "appointments.status",
        "hospitals.new",
    }
)
# What each view reads (the roll-up's other rows are not fetched).
VIEW_METRICS: dict[str, frozenset[str]] = {
    "overview": HOSPITAL_OVERVIEW_METRICS | SUBSCRIPTION_METRICS,
    "hospital": HOSPITAL_OVERVIEW_METRICS,
    "bookings": frozenset(
        {
            "bookings.created",
            "bookings.status",
            "bookings.country",
            "bookings.treatment",
            "bookings.hospital",
        }
    ),
    "revenue": frozenset({"revenue.gross", "revenue.refunds"}) | SUBSCRIPTION_METRICS,
    "patients": frozenset({"patients.new", "patients.country"}),
    "doctors": frozenset({"appointments.doctor", "appointments.status"}),
    "hospitals": frozenset({"hospitals.new", "hospitals.country", "bookings.hospital"}),
}

VIEWS: dict[str, Callable[[Metrics], dict[str, Any]]] = {
    "overview": overview_view,
    "hospital": hospital_overview_view,
    "bookings": bookings_view,
    "revenue": revenue_view,
    "patients": patients_view,
    "doctors": doctors_view,
    "hospitals": hospitals_view,
}


def grouped(
    days: dict[date, Metrics], group_by: GroupBy, view: Callable[[Metrics], dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    periods: dict[date, Metrics] = {}
    totals: Metrics = {}
    for day in sorted(days):
        _merge(periods.setdefault(bucket(day, group_by), {}), days[day])
        _merge(totals, days[day])
    return (
        [{"period": start.isoformat(), **view(m)} for start, m in sorted(periods.items())],
        view(totals),
    )


async def subscription_statuses(
    session: AsyncSession, last: date, hospital_id: uuid.UUID | None, zone: ZoneInfo, now: datetime
) -> dict[str, int]:
    """How many subscriptions (of the hospital, or all) were in each status at the end of the
    range (now, when it reaches today): each one's last move before then, from its history."""
    # A range reaching today (or beyond, up to 9999-12-31) ends now: its last day's end would
    # not even be a datetime.
    until = now if last >= now.astimezone(zone).date() else min(day_bounds(last, zone)[1], now)
    latest = (
        select(SubscriptionStatusHistory.to_status)
        .join(Subscription, Subscription.id == SubscriptionStatusHistory.subscription_id)
        .where(
            SubscriptionStatusHistory.created_at < until,
            *([Subscription.hospital_id == hospital_id] if hospital_id is not None else []),
        )
        .ext(distinct_on(SubscriptionStatusHistory.subscription_id))
        .order_by(SubscriptionStatusHistory.subscription_id, SubscriptionStatusHistory.seq.desc())
        .subquery()
    )
    rows = await session.execute(
        select(latest.c.to_status, func.count()).group_by(latest.c.to_status)
    )
    found = {str(status): int(n) for status, n in rows}
    return {s.value: found.get(s.value, 0) for s in SubscriptionStatus}


async def answer(
    session: AsyncSession,
    what: str,
    *,
    first: date,
    last: date,
    group_by: GroupBy,
    hospital_id: uuid.UUID | None,
    zone: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    answered = await answers(
        session,
        what,
        first=first,
        last=last,
        group_by=group_by,
        hospital_ids=[hospital_id],
        zone=zone,
        now=now,
    )
    return answered[hospital_id]


async def answers(
    session: AsyncSession,
    what: str,
    *,
    first: date,
    last: date,
    group_by: GroupBy,
    hospital_ids: Sequence[uuid.UUID | None],
    zone: ZoneInfo,
    now: datetime,
) -> dict[uuid.UUID | None, dict[str, Any]]:
    """The answer for each scope (None: the platform), read together (see
    scopes_daily_metrics)."""
    scoped = await scopes_daily_metrics(
        session, first, last, hospital_ids, zone, now, VIEW_METRICS[what]
    )
    out: dict[uuid.UUID | None, dict[str, Any]] = {}
    for hospital_id, days in scoped.items():
        periods, totals = grouped(days, group_by, VIEWS[what])
        if "subscriptions" in totals:
            totals["subscriptions"]["by_status"] = await subscription_statuses(
                session, last, hospital_id, zone, now
            )
        out[hospital_id] = {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": group_by,
            "timezone": zone.key,
            "hospital_id": str(hospital_id) if hospital_id else None,
            "periods": periods,
            "totals": totals,
        }
    return out
