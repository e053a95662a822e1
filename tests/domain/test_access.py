"""The access predicates of domain/access.py, one family at a time (their SQL translations in
api/policies.py are exercised by the API access tests)."""

from __future__ import annotations

import uuid

import pytest

from domain.access import (
    PAYERS,
    REFUNDERS,
    STAFF,
    BookingParties,
    CareTeam,
    MoneyParties,
    Person,
    Role,
    in_care_team,
    involved,
    manages_hospital,
    sees_booking_medical,
    sees_care_row,
    sees_money,
)

PATIENT, HOSPITAL_ADMIN, COORDINATOR, DOCTOR, OTHER = (uuid.uuid4() for _ in range(5))


def person(role: Role, user_id: uuid.UUID | None, approved: bool = True) -> Person:
    return Person(role=role, user_id=user_id, approved=approved)


def test_role_sets_are_roles_and_compare_equal_to_their_stored_strings():
    assert {Role.ADMIN, Role.COORDINATOR} == STAFF
    assert REFUNDERS == STAFF
    assert STAFF | {Role.PATIENT} == PAYERS
    # user_type is stored as a plain string; membership must still hold.
    assert "coordinator" in STAFF and "patient" not in STAFF


# ---- booking involvement --------------------------------------------------------------------

PARTIES = BookingParties(
    patient_user_id=PATIENT, hospital_admin_user_id=HOSPITAL_ADMIN, coordinator_id=COORDINATOR
)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (person(Role.ADMIN, OTHER), True),
        (Person(role="system", system=True), True),
        (person(Role.PATIENT, PATIENT), True),
        (person(Role.PATIENT, OTHER), False),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), True),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN, approved=False), False),
        (person(Role.HOSPITAL_ADMIN, OTHER), False),
        (person(Role.COORDINATOR, COORDINATOR), True),
        (person(Role.COORDINATOR, OTHER), False),
        (person(Role.DOCTOR, DOCTOR), False),
        (person(Role.PATIENT, None), False),
    ],
)
def test_who_is_involved_in_a_booking(who, expected):
    assert involved(who, PARTIES) is expected


def test_any_coordinator_is_involved_in_an_unassigned_booking():
    queue = BookingParties(patient_user_id=PATIENT, hospital_admin_user_id=HOSPITAL_ADMIN)
    assert involved(person(Role.COORDINATOR, OTHER), queue)
    assert not involved(person(Role.PATIENT, OTHER), queue)


def test_a_coordinator_sees_a_bookings_medical_details_only_once_it_is_theirs():
    queue = BookingParties(patient_user_id=PATIENT, hospital_admin_user_id=HOSPITAL_ADMIN)
    assert involved(person(Role.COORDINATOR, COORDINATOR), queue)
    assert not sees_booking_medical(person(Role.COORDINATOR, COORDINATOR), queue)
    assert sees_booking_medical(person(Role.COORDINATOR, COORDINATOR), PARTIES)
    assert not sees_booking_medical(person(Role.COORDINATOR, OTHER), PARTIES)
    # Everyone else involved sees them, assigned or not; who is not involved never does.
    for booking in (queue, PARTIES):
        assert sees_booking_medical(person(Role.PATIENT, PATIENT), booking)
        assert sees_booking_medical(person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), booking)
        assert sees_booking_medical(person(Role.ADMIN, OTHER), booking)
        assert not sees_booking_medical(person(Role.PATIENT, OTHER), booking)
        assert not sees_booking_medical(person(Role.DOCTOR, DOCTOR), booking)


# ---- the care team --------------------------------------------------------------------------

TEAM = CareTeam(
    patient_user_id=PATIENT,
    doctor_user_ids=frozenset({DOCTOR}),
    coordinator_ids=frozenset({COORDINATOR}),
)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (person(Role.ADMIN, OTHER), True),
        (person(Role.PATIENT, PATIENT), True),
        (person(Role.PATIENT, OTHER), False),
        (person(Role.DOCTOR, DOCTOR), True),
        (person(Role.DOCTOR, DOCTOR, approved=False), False),
        (person(Role.DOCTOR, OTHER), False),
        (person(Role.COORDINATOR, COORDINATOR), True),
        (person(Role.COORDINATOR, OTHER), False),
        # A hospital admin is never in a care team, even the patient's hospital's.
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), False),
    ],
)
def test_who_is_in_a_patients_care_team(who, expected):
    assert in_care_team(who, TEAM) is expected


def test_a_doctor_keeps_seeing_the_rows_they_wrote_and_only_when_approved():
    former = CareTeam(patient_user_id=PATIENT)  # the appointment was cancelled since
    author = person(Role.DOCTOR, DOCTOR)
    assert not sees_care_row(author, former)
    assert sees_care_row(author, former, author_user_id=DOCTOR)
    pending = person(Role.DOCTOR, DOCTOR, approved=False)
    assert not sees_care_row(pending, former, author_user_id=DOCTOR)
    # Authorship means nothing for other roles: a coordinator sees by the team alone.
    assert not sees_care_row(person(Role.COORDINATOR, OTHER), former, author_user_id=OTHER)


def test_rows_not_shared_with_doctors_are_seen_by_the_rest_of_the_team_only():
    doctor = person(Role.DOCTOR, DOCTOR)
    assert sees_care_row(doctor, TEAM)
    assert not sees_care_row(doctor, TEAM, shared_with_doctors=False)
    assert sees_care_row(doctor, TEAM, shared_with_doctors=False, author_user_id=DOCTOR)
    for who in (person(Role.PATIENT, PATIENT), person(Role.COORDINATOR, COORDINATOR)):
        assert sees_care_row(who, TEAM, shared_with_doctors=False)


# ---- hospital management --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (person(Role.ADMIN, OTHER), True),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), True),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN, approved=False), False),
        (person(Role.HOSPITAL_ADMIN, OTHER), False),
        (person(Role.COORDINATOR, HOSPITAL_ADMIN), False),
        (person(Role.DOCTOR, HOSPITAL_ADMIN), False),
    ],
)
def test_who_manages_a_hospital(who, expected):
    assert manages_hospital(who, HOSPITAL_ADMIN) is expected


def test_nobody_but_admins_manages_a_hospital_without_an_administrator():
    assert manages_hospital(person(Role.ADMIN, OTHER), None)
    assert not manages_hospital(person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), None)


def test_a_role_change_is_clean_only_when_nothing_of_the_old_role_is_left_behind():
    from domain.access import RoleHoldings, role_change_blockers

    assert role_change_blockers("patient", RoleHoldings(doctor_profile=True)) == ["doctor_profile"]
    assert role_change_blockers("doctor", RoleHoldings(doctor_profile=True)) == []
    held = RoleHoldings(administered_hospitals=2, coordinated_open_bookings=1)
    assert role_change_blockers("admin", held) == [
        "administered_hospitals",
        "coordinated_open_bookings",
    ]
    assert role_change_blockers("hospital_admin", held) == ["coordinated_open_bookings"]
    assert role_change_blockers("coordinator", RoleHoldings()) == []


# ---- money ----------------------------------------------------------------------------------

BOOKING_MONEY = MoneyParties(patient_user_id=PATIENT, booking_coordinator_id=COORDINATOR)
CONSULT_MONEY = MoneyParties(
    patient_user_id=PATIENT, for_booking=False, patient_coordinator_ids=frozenset({COORDINATOR})
)


@pytest.mark.parametrize("parties", [BOOKING_MONEY, CONSULT_MONEY])
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (person(Role.ADMIN, OTHER), True),
        (Person(role="system", system=True), True),
        (person(Role.PATIENT, PATIENT), True),
        (person(Role.PATIENT, OTHER), False),
        (person(Role.COORDINATOR, COORDINATOR), True),
        (person(Role.COORDINATOR, OTHER), False),
        (person(Role.DOCTOR, DOCTOR), False),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), False),
        (person(Role.COORDINATOR, None), False),
    ],
)
def test_who_sees_a_payment_or_an_invoice(who, expected, parties):
    assert sees_money(who, parties) is expected


def test_a_coordinator_sees_no_money_of_a_booking_in_the_queue_or_of_a_patient_not_theirs():
    coordinator = person(Role.COORDINATOR, COORDINATOR)
    assert not sees_money(coordinator, MoneyParties(patient_user_id=PATIENT))
    # Coordinating the patient's other booking is not coordinating this booking.
    other_booking = MoneyParties(
        patient_user_id=PATIENT,
        booking_coordinator_id=OTHER,
        patient_coordinator_ids=frozenset({COORDINATOR}),
    )
    assert not sees_money(coordinator, other_booking)
    assert not sees_money(coordinator, MoneyParties(patient_user_id=PATIENT, for_booking=False))


HOSPITAL_SUBSCRIPTION_MONEY = MoneyParties(subscription_hospital_admin_user_id=HOSPITAL_ADMIN)
DOCTOR_SUBSCRIPTION_MONEY = MoneyParties(subscription_doctor_user_id=DOCTOR)


@pytest.mark.parametrize(
    ("who", "parties", "expected"),
    [
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), HOSPITAL_SUBSCRIPTION_MONEY, True),
        (
            person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN, approved=False),
            HOSPITAL_SUBSCRIPTION_MONEY,
            False,
        ),
        (person(Role.HOSPITAL_ADMIN, OTHER), HOSPITAL_SUBSCRIPTION_MONEY, False),
        (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), DOCTOR_SUBSCRIPTION_MONEY, False),
        (person(Role.DOCTOR, DOCTOR), DOCTOR_SUBSCRIPTION_MONEY, True),
        (person(Role.DOCTOR, DOCTOR, approved=False), DOCTOR_SUBSCRIPTION_MONEY, False),
        (person(Role.DOCTOR, OTHER), DOCTOR_SUBSCRIPTION_MONEY, False),
        (person(Role.DOCTOR, DOCTOR), HOSPITAL_SUBSCRIPTION_MONEY, False),
        (person(Role.ADMIN, OTHER), HOSPITAL_SUBSCRIPTION_MONEY, True),
        (person(Role.ADMIN, OTHER), DOCTOR_SUBSCRIPTION_MONEY, True),
        # A subscription's money concerns no patient and pays for no booking.
        (person(Role.PATIENT, PATIENT), HOSPITAL_SUBSCRIPTION_MONEY, False),
        (person(Role.COORDINATOR, COORDINATOR), DOCTOR_SUBSCRIPTION_MONEY, False),
        # The same user id in the wrong role sees nothing.
        (person(Role.DOCTOR, HOSPITAL_ADMIN), HOSPITAL_SUBSCRIPTION_MONEY, False),
        (person(Role.HOSPITAL_ADMIN, DOCTOR), DOCTOR_SUBSCRIPTION_MONEY, False),
    ],
)
def test_a_subscriptions_holder_sees_its_money(who, parties, expected):
    assert sees_money(who, parties) is expected


def test_a_subscriber_sees_nothing_of_patients_money():
    """Hospital admins and doctors see no patient's money, whoever's booking or consultation
    it pays for (a hospital admin's own hospital's booking included)."""
    for who in (person(Role.HOSPITAL_ADMIN, HOSPITAL_ADMIN), person(Role.DOCTOR, DOCTOR)):
        for parties in (
            BOOKING_MONEY,
            CONSULT_MONEY,
            MoneyParties(patient_user_id=who.user_id),
            MoneyParties(booking_coordinator_id=who.user_id),
            MoneyParties(for_booking=False, patient_coordinator_ids=frozenset({who.user_id})),
        ):
            assert not sees_money(who, parties), (who, parties)
