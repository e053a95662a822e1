"""A subscription's periods, prorations, dunning schedule and limits: every boundary the
billing systems we compared get wrong (month ends, leap days, the zone's midnight, a cent)."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import Role
from domain.errors import Conflict, Invalid
from domain.lifecycle import SYSTEM, Actor, MoveRefused
from domain.subscription import (
    SUBSCRIPTION,
    BillingCycle,
    DeclineAction,
    DunningPolicy,
    Limits,
    SubscriptionParties,
    add_months,
    check_limit,
    decline_action,
    dunning_schedule,
    local_day_start,
    month_bounds,
    period,
    period_on,
    price_of,
    prorate,
    upgrade_charge,
)
from domain.subscription import SubscriptionStatus as S

M, Y = BillingCycle.MONTHLY, BillingCycle.YEARLY
anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def test_a_month_end_anchor_keeps_its_day_where_the_month_has_it():
    starts = [period(date(2027, 1, 31), M, i).start for i in range(13)]
    assert starts == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
    ]
    assert period(date(2028, 1, 31), M, 1).start == date(2028, 2, 29)  # leap year
    assert period(date(2027, 1, 31), M, 1).end == date(2027, 3, 31)


def test_a_yearly_subscription_from_a_leap_day_renews_on_the_28th_and_returns_to_the_29th():
    ends = [period(date(2028, 2, 29), Y, i).end for i in range(4)]
    assert ends == [date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29)]
    assert period(date(2028, 2, 29), Y, 0).days == 365
    assert period(date(2031, 2, 28), Y, 0).end == date(2032, 2, 28)


@given(anchor=anchors, cycle=st.sampled_from([M, Y]), index=st.integers(0, 400))
def test_periods_follow_each_other_without_gap_or_overlap(anchor, cycle, index):
    if cycle == Y and index > 60:
        index %= 60
    this, after = period(anchor, cycle, index), period(anchor, cycle, index + 1)
    assert this.end == after.start
    assert this.start < this.end
    assert 28 <= this.days <= 31 if cycle == M else 365 <= this.days <= 366
    # Every period is counted from the anchor: its day, or the month's last day when shorter.
    month_days = calendar.monthrange(this.start.year, this.start.month)[1]
    assert this.start.day == min(anchor.day, month_days)


@given(anchor=anchors, cycle=st.sampled_from([M, Y]), offset=st.integers(0, 3000))
def test_the_period_on_a_day_holds_that_day(anchor, cycle, offset):
    day = anchor + timedelta(days=offset)
    found = period_on(anchor, cycle, day)
    assert found.start <= day < found.end
    assert found == period(anchor, cycle, found.index)


def test_add_months_refuses_going_back():
    with pytest.raises(ValueError):
        add_months(date(2027, 1, 1), -1)
    with pytest.raises(ValueError):
        period(date(2027, 1, 1), M, -1)


def test_a_renewal_is_due_at_the_subscribers_midnight_across_a_dst_change():
    # Berlin moves to summer time on 28 March 2027: midnights before and after differ by 23 h.
    assert local_day_start(date(2027, 3, 28), "Europe/Berlin") == datetime(
        2027, 3, 27, 23, tzinfo=UTC
    )
    assert local_day_start(date(2027, 3, 29), "Europe/Berlin") == datetime(
        2027, 3, 28, 22, tzinfo=UTC
    )
    assert local_day_start(date(2027, 3, 1), "Asia/Kolkata") == datetime(
        2027, 2, 28, 18, 30, tzinfo=UTC
    )


def test_where_the_clocks_skip_midnight_the_day_starts_when_it_begins():
    # Havana springs forward at midnight (00:00 → 01:00) on 14 March 2027.
    begins = local_day_start(date(2027, 3, 14), "America/Havana")
    assert begins == datetime(2027, 3, 14, 5, tzinfo=UTC)
    assert begins - local_day_start(date(2027, 3, 13), "America/Havana") == timedelta(hours=24)


def test_proration_is_by_days_left_to_the_cent():
    # 17 of 31 days of a 49.99 difference: 27.4139... → 27.41.
    assert prorate(Decimal("49.99"), 17, 31, "USD") == Decimal("27.41")
    assert prorate(Decimal("100"), 15, 30, "USD") == Decimal("50.00")
    assert prorate(Decimal("1000"), 1, 3, "JPY") == Decimal("333")
    assert prorate(Decimal("10.000"), 2, 3, "KWD") == Decimal("6.667")
    assert prorate(Decimal("0.05"), 1, 2, "USD") == Decimal("0.03")  # half up
    with pytest.raises(ValueError):
        prorate(Decimal("10"), 32, 31, "USD")


@given(
    amount=st.decimals(min_value=0, max_value=100000, places=2),
    days=st.integers(28, 366),
    data=st.data(),
)
def test_what_is_left_and_what_is_used_add_up_to_the_price_within_a_cent(amount, days, data):
    left = data.draw(st.integers(0, days))
    rest = prorate(amount, left, days, "USD")
    used = prorate(amount, days - left, days, "USD")
    assert Decimal("0") <= rest <= amount
    assert abs(rest + used - amount) <= Decimal("0.01")


def test_an_upgrade_charges_the_difference_for_the_days_left_and_a_downgrade_nothing_now():
    current = period(date(2027, 3, 10), M, 0)  # 10 March to 10 April: 31 days
    assert current.days == 31
    charge = upgrade_charge(Decimal("99.00"), Decimal("199.00"), current, date(2027, 3, 25), "USD")
    assert charge == Decimal("51.61")  # 100 x 16 / 31
    assert upgrade_charge(
        Decimal("199"), Decimal("99"), current, date(2027, 3, 25), "USD"
    ) == Decimal("0.00")
    # On the period's last day one day is left; on its first, all of it.
    assert upgrade_charge(Decimal("0"), Decimal("31"), current, date(2027, 4, 9), "USD") == Decimal(
        "1.00"
    )
    assert upgrade_charge(
        Decimal("0"), Decimal("31"), current, date(2027, 3, 10), "USD"
    ) == Decimal("31.00")


def test_the_dunning_schedule_is_fixed_when_the_renewal_fails():
    failed = datetime(2027, 5, 31, 23, 30, tzinfo=UTC)
    schedule = dunning_schedule(failed, DunningPolicy())
    assert schedule.retries == (
        datetime(2027, 6, 1, 23, 30, tzinfo=UTC),
        datetime(2027, 6, 3, 23, 30, tzinfo=UTC),
        datetime(2027, 6, 7, 23, 30, tzinfo=UTC),
    )
    assert schedule.grace_ends == datetime(2027, 6, 14, 23, 30, tzinfo=UTC)
    assert schedule.next_retry(failed + timedelta(days=2)) == schedule.retries[1]
    assert schedule.next_retry(schedule.retries[-1]) is None
    # Retries past the grace are never made.
    short = dunning_schedule(failed, DunningPolicy(retry_days=(1, 3, 7), grace_days=5))
    assert short.retries == schedule.retries[:2]
    with pytest.raises(ValueError):
        DunningPolicy(retry_days=(3, 1))
    with pytest.raises(ValueError):
        dunning_schedule(datetime(2027, 1, 1), DunningPolicy())  # noqa: DTZ001 (naive on purpose)


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("insufficient_funds", DeclineAction.RETRY),
        ("processing_error", DeclineAction.RETRY),
        (None, DeclineAction.RETRY),
        ("something_new", DeclineAction.RETRY),
        ("expired_card", DeclineAction.ASK),
        ("authentication_required", DeclineAction.ASK),
        ("lost_card", DeclineAction.STOP),
        ("stolen_card", DeclineAction.STOP),
        ("FRAUDULENT", DeclineAction.STOP),
    ],
)
def test_the_decline_decides_what_happens_next(code, action):
    assert decline_action(code) == action


def test_past_a_limit_the_error_names_the_limit_and_the_plan():
    limits = Limits(plan="Clinic", max_doctors=5, max_appointments_per_month=None)
    check_limit(limits, "doctors", 4)
    check_limit(limits, "appointments_per_month", 10_000)
    with pytest.raises(Conflict) as refused:
        check_limit(limits, "doctors", 5)
    assert refused.value.code == "PLAN_LIMIT_REACHED"
    assert refused.value.details == {"limit": 5, "used": 5, "plan": "Clinic", "what": "doctors"}


def test_a_month_is_the_holders_calendar_month():
    start, end = month_bounds(date(2027, 3, 15), "Europe/Berlin")
    assert start == datetime(2027, 2, 28, 23, tzinfo=UTC)
    assert end == datetime(2027, 3, 31, 22, tzinfo=UTC)


def test_a_plan_not_sold_for_a_cycle_refuses_it():
    assert price_of(Decimal("10"), None, "monthly") == Decimal("10")
    with pytest.raises(Invalid) as refused:
        price_of(Decimal("10"), None, "yearly")
    assert refused.value.code == "CYCLE_NOT_OFFERED"


HOLDER, STRANGER = uuid.uuid4(), uuid.uuid4()
PARTIES = SubscriptionParties(frozenset({HOLDER}))


def test_only_the_subscriber_or_staff_cancel_and_the_money_moves_are_the_platforms():
    SUBSCRIPTION.check(S.PAST_DUE, S.CANCELLED, Actor(Role.DOCTOR, HOLDER), PARTIES)
    SUBSCRIPTION.check(S.ACTIVE, S.CANCELLED, Actor(Role.ADMIN, STRANGER), PARTIES)
    with pytest.raises(MoveRefused) as stranger:
        SUBSCRIPTION.check(S.PAST_DUE, S.CANCELLED, Actor(Role.DOCTOR, STRANGER), PARTIES)
    assert stranger.value.code == "NOT_SUBSCRIBER"
    # A subscriber's cancellation of a paid period waits for its end: not a move now.
    with pytest.raises(MoveRefused) as now:
        SUBSCRIPTION.check(S.ACTIVE, S.CANCELLED, Actor(Role.HOSPITAL_ADMIN, HOLDER), PARTIES)
    assert now.value.code == "ROLE_NOT_ALLOWED"
    for target in (S.ACTIVE, S.PAST_DUE, S.EXPIRED):
        assert target in SUBSCRIPTION.system_only_targets
    SUBSCRIPTION.check(S.ACTIVE, S.PAST_DUE, Actor(SYSTEM), PARTIES)
