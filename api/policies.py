"""The SQL translation of each access predicate of domain/access.py: one WHERE clause per family,
used by every list and detail query, so that a row a predicate refuses is never loaded (it
answers 404, like a row that does not exist).

    booking_scope(user)                       ~ access.involved
    booking_medical_scope(user)               ~ access.sees_booking_medical
    care_scope(user, patient_col, ...)        ~ access.in_care_team / access.sees_care_row
    hospital_scope(user, hospital_col)        ~ access.manages_hospital
    appointment_scope(user)                   ~ access.in_appointment
    money_scope(user, model)                  ~ access.sees_money
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Person, Role
from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital, HospitalDoctor
from domain.models.subscriptions import Subscription
from domain.models.users import Patient, User


def person_of(user: User) -> Person:
    """The caller as the pure predicates see them."""
    return Person(role=user.user_type, user_id=user.id, approved=bool(user.is_approved))


def nobody() -> Select[Any]:
    return select(Patient.id).where(false())


def own_patient_ids(user: User) -> Select[Any]:
    return select(Patient.id).where(Patient.user_id == user.id)


def caller_doctor_id(user: User) -> Any:
    return select(Doctor.id).where(Doctor.user_id == user.id).scalar_subquery()


def doctor_patient_ids(user: User) -> Select[Any]:
    """Patients with an appointment (not cancelled) with this doctor; none until approved."""
    if not user.is_approved:
        return nobody()
    return select(Appointment.patient_id).where(
        Appointment.doctor_id == caller_doctor_id(user),
        Appointment.status != AppointmentStatus.CANCELLED.value,
    )


def coordinated_patient_ids(user: User) -> Select[Any]:
    return select(Booking.patient_id).where(Booking.coordinator_id == user.id)


def managed_hospital_ids(user: User) -> Select[Any]:
    """The hospitals this hospital admin administers; none until approved."""
    if not user.is_approved:
        return select(Hospital.id).where(false())
    return select(Hospital.id).where(Hospital.admin_user_id == user.id)


def hospital_patient_ids(user: User) -> Select[Any]:
    """Patients with a booking at a hospital this user administers (not their clinical data)."""
    return select(Booking.patient_id).where(Booking.hospital_id.in_(managed_hospital_ids(user)))


# The roles whose bookings are those of some ids: the booking's column and the ids' query.
BOOKING_SCOPE_IDS: dict[str, tuple[Any, Any]] = {
    Role.PATIENT: (Booking.patient_id, own_patient_ids),
    Role.HOSPITAL_ADMIN: (Booking.hospital_id, managed_hospital_ids),
}


def booking_scope(user: User | None) -> ColumnElement[bool]:
    """The bookings this person may see (access.involved): their own, their hospital's, their
    assigned ones and the unassigned queue, or all (admins). Everyone else's answer 404."""
    if user is None:
        return false()
    role = user.user_type
    if role == Role.ADMIN:
        return true()
    if role in BOOKING_SCOPE_IDS:
        column, ids = BOOKING_SCOPE_IDS[role]
        return column.in_(ids(user))  # type: ignore[no-any-return]
    if role == Role.COORDINATOR:
        return or_(Booking.coordinator_id == user.id, Booking.coordinator_id.is_(None))
    return false()


async def booking_scope_read_first(db: AsyncSession, user: User | None) -> ColumnElement[bool]:
    """booking_scope, the same predicate, with the patient's or hospital's ids read first: for
    lists, whose count and page the planner then reads from the (patient_id | hospital_id,
    created_at, id) indexes; with the ids as a subquery it hash-joined every booking instead
    (measured by `make bench`, bench/README.md)."""
    if user is not None and user.user_type in BOOKING_SCOPE_IDS:
        column, ids = BOOKING_SCOPE_IDS[user.user_type]
        return column.in_(list(await db.scalars(ids(user))))  # type: ignore[no-any-return]
    return booking_scope(user)


def booking_medical_scope(user: User | None) -> ColumnElement[bool]:
    """The bookings whose medical and travel details and notes this person sees
    (access.sees_booking_medical): those they see, but a coordinator only their assigned ones."""
    if user is not None and user.user_type == Role.COORDINATOR:
        return Booking.coordinator_id == user.id
    return booking_scope(user)


def care_scope(
    user: User | None,
    patient_col: Any,
    doctor_col: Any = None,
    *,
    uploader_col: Any = None,
    shared_with_doctors: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """The rows of patients in the caller's care team (access.sees_care_row).

    patient_col: the row's patient. doctor_col: the doctor (doctors.id) who wrote the row, who
    keeps seeing it; uploader_col: the same as a user id. shared_with_doctors: a row the team's
    doctors see only where it holds (a medical record's sharing flag; `false()` for rows a doctor
    sees only when they are its doctor)."""
    if user is None:
        return false()
    role = user.user_type
    if role == Role.ADMIN:
        return true()
    if role == Role.PATIENT:
        return patient_col.in_(own_patient_ids(user))  # type: ignore[no-any-return]
    if role == Role.COORDINATOR:
        return patient_col.in_(coordinated_patient_ids(user))  # type: ignore[no-any-return]
    if role == Role.DOCTOR and user.is_approved:
        team: ColumnElement[bool] = patient_col.in_(doctor_patient_ids(user))
        if shared_with_doctors is not None:
            team = and_(team, shared_with_doctors)
        own = [team]
        if doctor_col is not None:
            own.append(doctor_col == caller_doctor_id(user))
        if uploader_col is not None:
            own.append(uploader_col == user.id)
        return or_(*own)
    return false()


def care_team_patient_ids(user: User) -> Select[Any]:
    """The patients whose medical data this caller may see, as a subquery of patients.id."""
    return select(Patient.id).where(care_scope(user, Patient.id))


def hospital_scope(user: User | None, hospital_col: Any) -> ColumnElement[bool]:
    """The rows of hospitals this caller manages (access.manages_hospital): admins every one, an
    approved hospital admin theirs."""
    if user is None:
        return false()
    if user.user_type == Role.ADMIN:
        return true()
    if user.user_type == Role.HOSPITAL_ADMIN:
        return hospital_col.in_(managed_hospital_ids(user))  # type: ignore[no-any-return]
    return false()


def appointment_scope(user: User | None) -> ColumnElement[bool]:
    """The appointments this person acts on (access.in_appointment): a patient their own, an
    approved doctor theirs, an approved hospital admin those of their hospitals' doctors, staff
    (admins, coordinators) all. Everyone else's answer 404."""
    if user is None:
        return false()
    role = user.user_type
    if role in (Role.ADMIN, Role.COORDINATOR):
        return true()
    if role == Role.PATIENT:
        return Appointment.patient_id.in_(own_patient_ids(user))
    if role == Role.DOCTOR and user.is_approved:
        return Appointment.doctor_id == caller_doctor_id(user)  # type: ignore[no-any-return]
    if role == Role.HOSPITAL_ADMIN:
        doctors = select(HospitalDoctor.doctor_id).where(
            HospitalDoctor.hospital_id.in_(managed_hospital_ids(user))
        )
        return Appointment.doctor_id.in_(doctors)
    return false()


def appointment_medical_scope(user: User | None) -> ColumnElement[bool]:
    """The appointments whose clinical text this person sees (access.APPOINTMENT_MEDICAL_FIELDS),
    among those appointment_scope lets them see."""
    if user is None or user.user_type == Role.HOSPITAL_ADMIN:
        return false()
    if user.user_type == Role.COORDINATOR:
        return Appointment.patient_id.in_(coordinated_patient_ids(user))
    return true()


def money_scope(user: User | None, model: Any) -> ColumnElement[bool]:
    """The payments or invoices (`model`: Payment or Invoice, by their booking_id,
    appointment_id, patient_id and subscription_id) this person sees (access.sees_money), in
    lists and details alike: a patient their own, admins all, a coordinator those of the
    bookings assigned to them and the teleconsultation money of those bookings' patients, a
    hospital admin the money of their hospitals' subscriptions, a doctor that of their own
    subscriptions (both once approved); nobody else any."""
    if user is None:
        return false()
    role = user.user_type
    if role == Role.ADMIN:
        return true()
    if role == Role.PATIENT:
        return model.patient_id.in_(own_patient_ids(user))  # type: ignore[no-any-return]
    if role == Role.COORDINATOR:
        assigned = select(Booking.id).where(Booking.coordinator_id == user.id)
        return or_(
            model.booking_id.in_(assigned),
            and_(
                model.booking_id.is_(None),
                model.appointment_id.is_not(None),
                model.patient_id.in_(coordinated_patient_ids(user)),
            ),
        )
    if role == Role.HOSPITAL_ADMIN:
        held = select(Subscription.id).where(
            Subscription.hospital_id.in_(managed_hospital_ids(user))
        )
        return model.subscription_id.in_(held)  # type: ignore[no-any-return]
    if role == Role.DOCTOR and user.is_approved:
        held = select(Subscription.id).where(Subscription.doctor_id == caller_doctor_id(user))
        return model.subscription_id.in_(held)  # type: ignore[no-any-return]
    return false()
