"""The booking's own rules: who moves it where, its guards, edits and assignments. The promises
every table keeps (reachability, sinks, the platform's moves) are in test_lifecycles.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import Role
from domain.booking import (
    SYSTEM,
    SYSTEM_ONLY_TARGETS,
    TRANSITIONS,
    Actor,
    BookingStatus,
    MoveContext,
    MoveRefused,
    Parties,
    check_assignment,
    check_edit,
    check_move,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PATIENT = uuid.uuid4()
HOSPITAL_ADMIN = uuid.uuid4()
COORDINATOR = uuid.uuid4()
PARTIES = Parties(PATIENT, HOSPITAL_ADMIN, COORDINATOR)
ACTORS = {
    Role.PATIENT.value: Actor(Role.PATIENT.value, PATIENT),
    Role.HOSPITAL_ADMIN.value: Actor(Role.HOSPITAL_ADMIN.value, HOSPITAL_ADMIN),
    Role.COORDINATOR.value: Actor(Role.COORDINATOR.value, COORDINATOR),
    Role.ADMIN.value: Actor(Role.ADMIN.value, uuid.uuid4()),
    SYSTEM: Actor(SYSTEM),
}
PLATFORM_ONLY = {
    BookingStatus.PAYMENT_PENDING,
    BookingStatus.PAYMENT_COMPLETED,
    BookingStatus.INVOICE_SENT,
    BookingStatus.FEEDBACK_RECEIVED,
}


def _valid_context(**fields: object) -> MoveContext:
    return MoveContext(
        now=NOW,
        quotation_in_command=True,
        quotation_valid_until=NOW + timedelta(days=14),
        **fields,  # type: ignore[arg-type]
    )


statuses = st.sampled_from(list(BookingStatus))
roles = st.sampled_from(list(ACTORS))


@given(statuses, st.sampled_from(sorted(PLATFORM_ONLY)), roles)
def test_no_person_can_force_a_platform_move(
    source: BookingStatus, target: BookingStatus, role: str
) -> None:
    actor = ACTORS[role]
    if actor.is_system:
        return
    with pytest.raises(MoveRefused):
        check_move(source, target, actor, PARTIES, _valid_context())


def test_platform_moves_belong_to_the_platform_alone() -> None:
    for t in TRANSITIONS:
        if t.target in PLATFORM_ONLY:
            assert t.roles == {SYSTEM}, t


def test_the_platform_only_statuses_are_the_payment_invoice_and_feedback_steps() -> None:
    assert SYSTEM_ONLY_TARGETS == PLATFORM_ONLY


def test_coordinator_accepts_a_booking_under_review() -> None:
    move = check_move(
        BookingStatus.UNDER_REVIEW,
        BookingStatus.ACCEPTED,
        ACTORS[Role.COORDINATOR.value],
        PARTIES,
        MoveContext(now=NOW),
    )
    assert move.target == BookingStatus.ACCEPTED


def test_patient_cannot_accept_own_booking() -> None:
    with pytest.raises(MoveRefused) as refused:
        check_move(
            BookingStatus.UNDER_REVIEW,
            BookingStatus.ACCEPTED,
            ACTORS[Role.PATIENT.value],
            PARTIES,
            MoveContext(now=NOW),
        )
    assert (refused.value.kind, refused.value.code) == ("Forbidden", "ROLE_NOT_ALLOWED")


def test_another_hospitals_admin_cannot_move_the_booking() -> None:
    stranger = Actor(Role.HOSPITAL_ADMIN.value, uuid.uuid4())
    with pytest.raises(MoveRefused) as refused:
        check_move(
            BookingStatus.REQUESTED,
            BookingStatus.UNDER_REVIEW,
            stranger,
            PARTIES,
            MoveContext(now=NOW),
        )
    assert refused.value.code == "NOT_YOUR_BOOKING"


def test_a_coordinator_may_pick_up_an_unassigned_booking_but_not_a_colleagues() -> None:
    other = Actor(Role.COORDINATOR.value, uuid.uuid4())
    unassigned = Parties(PATIENT, HOSPITAL_ADMIN, None)
    check_move(
        BookingStatus.REQUESTED,
        BookingStatus.UNDER_REVIEW,
        other,
        unassigned,
        MoveContext(now=NOW),
    )
    with pytest.raises(MoveRefused):
        check_move(
            BookingStatus.REQUESTED,
            BookingStatus.UNDER_REVIEW,
            other,
            PARTIES,
            MoveContext(now=NOW),
        )


def test_quotation_sent_needs_a_quotation_not_a_bare_status() -> None:
    with pytest.raises(MoveRefused) as refused:
        check_move(
            BookingStatus.ACCEPTED,
            BookingStatus.QUOTATION_SENT,
            ACTORS[Role.COORDINATOR.value],
            PARTIES,
            MoveContext(now=NOW),
        )
    assert refused.value.code == "QUOTATION_REQUIRED"


def test_an_expired_quotation_cannot_be_confirmed() -> None:
    with pytest.raises(MoveRefused) as refused:
        check_move(
            BookingStatus.QUOTATION_SENT,
            BookingStatus.CONFIRMED,
            ACTORS[Role.PATIENT.value],
            PARTIES,
            MoveContext(now=NOW, quotation_valid_until=NOW - timedelta(seconds=1)),
        )
    assert refused.value.code == "QUOTATION_EXPIRED"


def test_medical_details_are_locked_once_confirmed_but_travel_plans_are_not() -> None:
    patient = ACTORS[Role.PATIENT.value]
    check_edit(BookingStatus.UNDER_REVIEW, ["medical_details"], patient, PARTIES)
    check_edit(BookingStatus.CONFIRMED, ["travel_details"], patient, PARTIES)
    with pytest.raises(MoveRefused) as refused:
        check_edit(BookingStatus.CONFIRMED, ["medical_details"], patient, PARTIES)
    assert refused.value.code == "BOOKING_NOT_EDITABLE"


def test_only_staff_assign_coordinators() -> None:
    check_assignment(BookingStatus.REQUESTED, ACTORS[Role.ADMIN.value], PARTIES)
    with pytest.raises(MoveRefused) as refused:
        check_assignment(BookingStatus.REQUESTED, ACTORS[Role.PATIENT.value], PARTIES)
    assert refused.value.kind == "Forbidden"
