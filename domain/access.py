"""Who may see and change what: the roles, the role sets, and one pure predicate per family of
rules (booking involvement, the care team who may see medical data, hospital management).

Each predicate has exactly one SQL translation in api/policies.py, used by every list and detail
query; tests/domain/test_access.py pins the predicates down."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    HOSPITAL_ADMIN = "hospital_admin"
    DOCTOR = "doctor"
    PATIENT = "patient"
    COORDINATOR = "coordinator"


# Public registration may create these; doctors and hospital admins stay unverified until an
# admin approves them. Nobody registers as admin or coordinator.
SELF_REGISTERABLE: frozenset[Role] = frozenset({Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN})
NEEDS_APPROVAL: frozenset[Role] = frozenset({Role.DOCTOR, Role.HOSPITAL_ADMIN})
# The platform's own people (a coordinator's money: sees_money).
STAFF: frozenset[Role] = frozenset({Role.ADMIN, Role.COORDINATOR})
HOSPITAL_SIDE: frozenset[Role] = STAFF | {Role.HOSPITAL_ADMIN}
PATIENT_OR_STAFF: frozenset[Role] = STAFF | {Role.PATIENT}
# Who may pay (for themselves, or staff for anyone) and who may refund.
PAYERS: frozenset[Role] = PATIENT_OR_STAFF
REFUNDERS: frozenset[Role] = STAFF
# Everyone who may be in a patient's care team (hospital admins never are).
CARE_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.PATIENT, Role.DOCTOR, Role.COORDINATOR})


@dataclass(frozen=True)
class Person:
    """Who asks: a user in a role (approved or not yet), or the platform itself (system)."""

    role: str
    user_id: uuid.UUID | None = None
    approved: bool = True
    system: bool = False


@dataclass(frozen=True)
class BookingParties:
    """The people a booking belongs to: whose it is, which hospital's admin, which coordinator."""

    patient_user_id: uuid.UUID | None = None
    hospital_admin_user_id: uuid.UUID | None = None
    coordinator_id: uuid.UUID | None = None


def involved(person: Person, parties: BookingParties) -> bool:
    """Whether this person acts on (and sees) this booking: a patient their own, an approved
    hospital admin their hospital's, a coordinator theirs or an unassigned one (the queue),
    admins and the platform every booking."""
    if person.system or person.role == Role.ADMIN:
        return True
    if person.user_id is None:
        return False
    if person.role == Role.PATIENT:
        return person.user_id == parties.patient_user_id
    if person.role == Role.HOSPITAL_ADMIN:
        return person.approved and person.user_id == parties.hospital_admin_user_id
    if person.role == Role.COORDINATOR:
        return parties.coordinator_id in (None, person.user_id)
    return False


def sees_booking_medical(person: Person, parties: BookingParties) -> bool:
    """Whether this person sees the booking's medical and travel details and its notes (minimum
    necessary): everyone involved in it, except that a coordinator sees them only once the
    booking is assigned to them; the queue shows unassigned bookings as a summary."""
    if not involved(person, parties):
        return False
    if person.role == Role.COORDINATOR and not person.system:
        return parties.coordinator_id is not None and parties.coordinator_id == person.user_id
    return True


# An appointment's clinical text (the complaint, the doctor's notes): the patient, the doctor and
# admins see it; a coordinator only for a patient of a booking assigned to them (staff schedule
# every teleconsultation, minimum necessary for the rest); a hospital admin runs the schedule,
# never the consultation. Its SQL: api/policies.appointment_medical_scope.
APPOINTMENT_MEDICAL_FIELDS: tuple[str, ...] = ("chief_complaint", "notes")

# The parts of a booking that only sees_booking_medical shows; null for everyone else.
BOOKING_MEDICAL_FIELDS: tuple[str, ...] = ("medical_details", "travel_details", "notes")


@dataclass(frozen=True)
class CareTeam:
    """Who cares for one patient, as stored: the patient's own account, the doctors with an
    appointment with them that is not cancelled, the coordinators of their bookings."""

    patient_user_id: uuid.UUID | None = None
    doctor_user_ids: frozenset[uuid.UUID] = frozenset()
    coordinator_ids: frozenset[uuid.UUID] = frozenset()


def in_care_team(person: Person, team: CareTeam) -> bool:
    """Whether this person may see the patient's medical data: the patient, an approved doctor
    with a (not cancelled) appointment with them, a coordinator of one of their bookings, an
    admin. Hospital admins and the public never are; an unapproved doctor is not yet."""
    if person.role == Role.ADMIN:
        return True
    if person.user_id is None:
        return False
    if person.role == Role.PATIENT:
        return person.user_id == team.patient_user_id
    if person.role == Role.DOCTOR:
        return person.approved and person.user_id in team.doctor_user_ids
    if person.role == Role.COORDINATOR:
        return person.user_id in team.coordinator_ids
    return False


def sees_care_row(
    person: Person,
    team: CareTeam,
    *,
    author_user_id: uuid.UUID | None = None,
    shared_with_doctors: bool = True,
) -> bool:
    """One clinical row of the patient (lab test, prescription, medical record, appointment): the
    care team sees it, except that the team's doctors see it only when it is shared with doctors
    (a medical record's flag; an appointment is not: a doctor sees only their own). An approved
    doctor always sees the rows they wrote (author_user_id), even after the care ended."""
    if person.role != Role.DOCTOR:
        return in_care_team(person, team)
    if not person.approved or person.user_id is None:
        return False
    if person.user_id == author_user_id:
        return True
    return shared_with_doctors and in_care_team(person, team)


def manages_hospital(person: Person, hospital_admin_user_id: uuid.UUID | None) -> bool:
    """Whether this person may manage the hospital (its profile, doctors, labs, the lab tests
    sent there): admins every hospital, an approved hospital admin the one they administer."""
    if person.role == Role.ADMIN:
        return True
    return (
        person.role == Role.HOSPITAL_ADMIN
        and person.approved
        and person.user_id is not None
        and person.user_id == hospital_admin_user_id
    )


@dataclass(frozen=True)
class AppointmentParties:
    """The people an appointment belongs to: whose it is, which doctor, and the admins of the
    hospitals the doctor works at."""

    patient_user_id: uuid.UUID | None = None
    doctor_user_id: uuid.UUID | None = None
    hospital_admin_user_ids: frozenset[uuid.UUID] = frozenset()


def in_appointment(person: Person, parties: AppointmentParties) -> bool:
    """Whether this person acts on (and sees) this appointment: the patient their own, an
    approved doctor theirs, an approved hospital admin their hospital's doctors', staff (admins
    and coordinators) and the platform every one."""
    if person.system or person.role in STAFF:
        return True
    if person.user_id is None:
        return False
    if person.role == Role.PATIENT:
        return person.user_id == parties.patient_user_id
    if person.role == Role.DOCTOR:
        return person.approved and person.user_id == parties.doctor_user_id
    if person.role == Role.HOSPITAL_ADMIN:
        return person.approved and person.user_id in parties.hospital_admin_user_ids
    return False


@dataclass(frozen=True)
class MoneyParties:
    """Whom a payment or an invoice concerns: its patient, and who coordinates what it pays for
    (the booking's coordinator; for a teleconsultation's money, the coordinators of the
    patient's bookings); for a subscription's money, its holder (the admin of the subscribing
    hospital, or the subscribing doctor's user)."""

    patient_user_id: uuid.UUID | None = None
    booking_coordinator_id: uuid.UUID | None = None
    for_booking: bool = True
    patient_coordinator_ids: frozenset[uuid.UUID] = frozenset()
    subscription_hospital_admin_user_id: uuid.UUID | None = None
    subscription_doctor_user_id: uuid.UUID | None = None


def sees_money(person: Person, parties: MoneyParties) -> bool:
    """Whether this person sees (and, as staff, refunds or sends) a payment or an invoice, in a
    list and by its id alike (minimum necessary): the patient their own, admins and the platform
    every one, a coordinator those of the bookings assigned to them and, for an appointment's
    money, those of the patients of a booking assigned to them (as for the appointment's
    clinical text). A subscription's holder sees that subscription's money: the approved admin
    of the subscribing hospital, the subscribing doctor (approved) themself. Hospital admins and
    doctors see nothing of patients' money. Its SQL: api/policies.money_scope."""
    if person.system or person.role == Role.ADMIN:
        return True
    if person.user_id is None:
        return False
    if person.role == Role.PATIENT:
        return person.user_id == parties.patient_user_id
    if person.role == Role.COORDINATOR:
        if parties.for_booking:
            return parties.booking_coordinator_id == person.user_id
        return person.user_id in parties.patient_coordinator_ids
    if person.role == Role.HOSPITAL_ADMIN:
        return person.approved and person.user_id == parties.subscription_hospital_admin_user_id
    if person.role == Role.DOCTOR:
        return person.approved and person.user_id == parties.subscription_doctor_user_id
    return False


@dataclass(frozen=True)
class RoleHoldings:
    """What an account holds that belongs to its role: its patient or doctor profile, the
    hospitals it administers, the open bookings it coordinates."""

    patient_profile: bool = False
    doctor_profile: bool = False
    administered_hospitals: int = 0
    coordinated_open_bookings: int = 0


# Each holding, and the only role it may stay with.
HOLDING_ROLE: dict[str, Role] = {
    "patient_profile": Role.PATIENT,
    "doctor_profile": Role.DOCTOR,
    "administered_hospitals": Role.HOSPITAL_ADMIN,
    "coordinated_open_bookings": Role.COORDINATOR,
}


def role_change_blockers(new_role: str, holdings: RoleHoldings) -> list[str]:
    """What a move to new_role would orphan or mislabel (a doctor profile under a patient, a
    hospital administered by a coordinator, a booking coordinated by a doctor): empty when the
    move is clean. Each must be removed or handed over first."""
    return [
        name
        for name, role in HOLDING_ROLE.items()
        if getattr(holdings, name) and Role(new_role) != role
    ]
