"""Every lifecycle's transition table keeps the same promises: every status is reachable from the
first, every live status can still end, nothing leaves an end, the platform's moves cannot be
asked for by a person, and the allowed next statuses agree with the checks.

A new lifecycle adds its table to LIFECYCLES below; nothing else here changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import Role
from domain.appointment import APPOINTMENT, AppointmentParties
from domain.appointment import MoveContext as AppointmentContext
from domain.booking import BOOKING, MoveContext, Parties
from domain.lifecycle import SYSTEM, Actor, MoveRefused, TransitionTable
from domain.payment import PAYMENT
from domain.subscription import SUBSCRIPTION, SubscriptionParties
from domain.translation import TRANSLATION

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PEOPLE = {role: uuid.uuid4() for role in Role}


@dataclass(frozen=True)
class Lifecycle:
    """A table with parties and a context under which every guard holds: what is left to
    refuse a move is the table itself."""

    table: TransitionTable[Any]
    parties: Any = None
    ctx: Any = None


LIFECYCLES: dict[str, Lifecycle] = {
    "booking": Lifecycle(
        BOOKING,
        Parties(PEOPLE[Role.PATIENT], PEOPLE[Role.HOSPITAL_ADMIN], PEOPLE[Role.COORDINATOR]),
        MoveContext(
            now=NOW, quotation_in_command=True, quotation_valid_until=NOW + timedelta(days=14)
        ),
    ),
    "payment": Lifecycle(PAYMENT),
    "appointment": Lifecycle(
        APPOINTMENT,
        AppointmentParties(
            PEOPLE[Role.PATIENT], PEOPLE[Role.DOCTOR], frozenset({PEOPLE[Role.HOSPITAL_ADMIN]})
        ),
        AppointmentContext(
            now=NOW,
            starts_at=NOW,
            payment_required=True,
            paid=True,
            prescription_in_command=True,
            follow_up_in_command=True,
        ),
    ),
    "translation": Lifecycle(TRANSLATION),
    "subscription": Lifecycle(
        SUBSCRIPTION,
        SubscriptionParties(frozenset({PEOPLE[Role.HOSPITAL_ADMIN], PEOPLE[Role.DOCTOR]})),
    ),
}
ACTORS: dict[str, Actor] = {
    **{role.value: Actor(role.value, PEOPLE[role]) for role in Role},
    SYSTEM: Actor(SYSTEM),
}
PERSON_ROLES = [role.value for role in Role]

lifecycles = pytest.mark.parametrize("name", sorted(LIFECYCLES))


def _reachable_from(table: TransitionTable[Any], start: StrEnum) -> set[StrEnum]:
    seen = {start}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for target in table.next_statuses(current):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def _statuses(name: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(LIFECYCLES[name].table.statuses))


@lifecycles
def test_every_status_is_reachable_from_the_first(name: str) -> None:
    table = LIFECYCLES[name].table
    # A retired status (an old rows' spelling) is left, never reached.
    assert _reachable_from(table, table.initial) == set(table.statuses) - table.retired


@lifecycles
def test_every_live_status_can_still_reach_an_end(name: str) -> None:
    table = LIFECYCLES[name].table
    for status in table.statuses:
        assert _reachable_from(table, status) & table.terminal, status


@lifecycles
@given(data=st.data())
def test_nothing_leaves_a_terminal_status(name: str, data: st.DataObject) -> None:
    """An end is a sink: at most it is written again with changes, never left."""
    lifecycle = LIFECYCLES[name]
    table = lifecycle.table
    end = data.draw(st.sampled_from(sorted(table.terminal)))
    target = data.draw(_statuses(name).filter(lambda s: s != end))
    role = data.draw(st.sampled_from(list(ACTORS)))
    assert set(table.next_statuses(end)) <= {end}
    with pytest.raises(MoveRefused) as refused:
        table.check(end, target, ACTORS[role], lifecycle.parties, lifecycle.ctx)
    assert refused.value.code == "INVALID_TRANSITION"
    assert set(refused.value.allowed or []) <= {end}


@lifecycles
@given(data=st.data())
def test_no_person_can_ask_for_a_system_only_status(name: str, data: st.DataObject) -> None:
    lifecycle = LIFECYCLES[name]
    table = lifecycle.table
    if not table.system_only_targets:
        return
    source = data.draw(_statuses(name))
    target = data.draw(st.sampled_from(sorted(table.system_only_targets)))
    role = data.draw(st.sampled_from(PERSON_ROLES))
    assert target not in table.next_statuses(source, role)
    with pytest.raises(MoveRefused):
        table.check(source, target, ACTORS[role], lifecycle.parties, lifecycle.ctx)


@lifecycles
def test_system_only_statuses_are_reached_by_the_platform_alone(name: str) -> None:
    table = LIFECYCLES[name].table
    for t in table.transitions:
        if t.target in table.system_only_targets:
            assert t.roles == {SYSTEM}, t


@lifecycles
@given(data=st.data())
def test_allowed_next_statuses_agree_with_the_checks(name: str, data: st.DataObject) -> None:
    """A 409 lists what the caller may ask for instead: exactly the edges open to their role."""
    lifecycle = LIFECYCLES[name]
    table = lifecycle.table
    source = data.draw(_statuses(name))
    target = data.draw(_statuses(name))
    role = data.draw(st.sampled_from(list(ACTORS)))
    try:
        table.check(source, target, ACTORS[role], lifecycle.parties, lifecycle.ctx)
    except MoveRefused as refused:
        if refused.code == "INVALID_TRANSITION":
            assert target not in table.next_statuses(source)
            assert refused.allowed == table.next_statuses(source, role)
        else:
            assert refused.kind == "Forbidden"
            assert target in table.next_statuses(source)
            assert target not in table.next_statuses(source, role)
    else:
        assert target in table.next_statuses(source, role)
