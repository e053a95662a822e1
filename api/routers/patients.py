"""/patients: patient profiles and everything of one patient (appointments, bookings, medical
records, prescriptions, payments). Medical fields travel only to the patient's care team."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import policies
from api.deps import AdminUser, CurrentUser, DbSession, Pagination, Paging, StorageDep
from api.envelope import Envelope, KeysetPage, Page, ok, page
from api.paging import ExactTotalMax, KeysetPagingDep
from api.resources import (
    SORT_HELP,
    Access,
    Out,
    Resource,
    RowId,
    Search,
    changeable,
    check_writable,
    creator,
    delete_or_deactivate,
    get_visible,
    list_page,
    list_rows,
)
from api.routers.medical_records import ENTITY_TYPE as RECORD_ENTITY
from api.routers.medical_records import medical_records
from api.routers.prescriptions import prescriptions
from api.schemas.bookings import BookingFilters, BookingOut
from api.schemas.medical_records import MedicalRecordOut
from api.schemas.patients import (
    MEDICAL_FIELDS,
    PatientAppointmentOut,
    PatientCreate,
    PatientFilters,
    PatientOut,
    PatientPaymentOut,
    PatientUpdate,
    PatientWrite,
)
from api.schemas.prescriptions import PrescriptionOut
from api.services import bookings as bookings_service
from api.services import care
from domain.access import Role
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.appointments import Appointment
from domain.models.care import MedicalRecord, Prescription
from domain.models.content import Media
from domain.models.payments import Payment
from domain.models.users import Patient, User

PROFILE_FIELDS = set(PatientWrite.model_fields)


class PatientAccess(Access[Patient]):
    """Admins and coordinators see every patient; a patient sees their own; a doctor the
    patients they have an appointment with; a hospital admin those with a booking at their
    hospital. Only the patient and admins change a profile."""

    create_roles = frozenset({Role.PATIENT, Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is None:
            return stmt.where(false())
        role = user.user_type
        if role in (Role.ADMIN, Role.COORDINATOR):
            return stmt
        if role == Role.PATIENT:
            return stmt.where(Patient.user_id == user.id)
        if role == Role.DOCTOR:
            return stmt.where(Patient.id.in_(policies.doctor_patient_ids(user)))
        if role == Role.HOSPITAL_ADMIN:
            return stmt.where(Patient.id.in_(policies.hospital_patient_ids(user)))
        return stmt.where(false())

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return None
        return PROFILE_FIELDS if user.user_type == Role.PATIENT else set()

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        if user.user_type == Role.PATIENT:
            data["user_id"] = user.id
            return
        if data.get("user_id") is None:
            raise Invalid("Name the patient's user (user_id)", code="USER_ID_REQUIRED")
        owner = await db.get(User, data["user_id"])
        if owner is None or owner.user_type != Role.PATIENT:
            raise Invalid("user_id must be a patient's account", code="USER_NOT_PATIENT")

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if user.user_type == Role.PATIENT and row.user_id == user.id:
            return
        raise Forbidden("Only the patient or an admin may change this profile", code="NOT_OWNER")


patients = Resource(
    model=Patient,
    name="patient",
    out=PatientOut,
    access=PatientAccess(),
    search=(User.first_name, User.last_name, User.email, Patient.country, Patient.city),
    sortable=("created_at", "country", "city", "date_of_birth"),
)


async def render_patients(
    db: AsyncSession, user: User, rows: list[Patient]
) -> list[dict[str, Any]]:
    """Profiles with their account's name; the medical fields only where the caller is in the
    patient's care team."""
    owners = {
        u.id: u
        for u in await db.scalars(
            select(User).where(User.id.in_([r.user_id for r in rows if r.user_id]))
        )
    }
    cared = await care.care_team_among(db, user, [r.id for r in rows])
    items = []
    for row in rows:
        item = PatientOut.model_validate(row).model_dump(mode="python")
        owner = owners.get(row.user_id) if row.user_id else None
        if owner is not None:
            item.update(first_name=owner.first_name, last_name=owner.last_name, email=owner.email)
        item["medical_visible"] = row.id in cared
        if row.id not in cared:
            item.update(dict.fromkeys(MEDICAL_FIELDS))
        items.append(item)
    return items


class AppointmentsOfPatient(Access[Appointment]):
    """The patient, admins, coordinators of the patient's bookings, and a doctor for the
    appointments with them."""

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        # One scope for every appointment read (policies.appointment_scope): a doctor sees the
        # appointments with them, a coordinator (staff) every one.
        return stmt.where(policies.appointment_scope(user))


class PaymentsOfPatient(Access[Payment]):
    """The payments GET /payments and GET /payments/{id} show the caller (policies.money_scope)."""

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(policies.money_scope(user, Payment))


appointments_of = Resource(
    model=Appointment,
    name="appointment",
    out=PatientAppointmentOut,
    access=AppointmentsOfPatient(),
    sortable=("created_at", "scheduled_date"),
    default_sort="-scheduled_date",
)
payments_of = Resource(
    model=Payment, name="payment", out=PatientPaymentOut, access=PaymentsOfPatient()
)

TAG = {"name": "patients", "description": "Patient profiles and their care history"}

router = APIRouter(prefix="/patients", tags=["patients"])
Sort = Annotated[str | None, Query(pattern=patients.sort_pattern, description=SORT_HELP)]


@router.get("", response_model=Page[PatientOut], summary="List patients (admins, coordinators)")
async def list_patients(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    filters: Annotated[PatientFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[Any]:
    base = select(Patient).outerjoin(User, User.id == Patient.user_id)
    rows, total = await list_rows(db, patients, user, paging, filters, search, sort, base=base)
    return page(
        await render_patients(db, user, list(rows)),
        page=paging.page,
        limit=paging.limit,
        total=total,
    )


@router.get("/{id}", response_model=Envelope[PatientOut], summary="One patient")
async def get_patient(row_id: RowId, db: DbSession, user: CurrentUser) -> Envelope[Any]:
    row = await get_visible(db, patients, user, row_id)
    return ok((await render_patients(db, user, [row]))[0])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[PatientOut],
    summary="Create a patient profile (your own, or any patient account's as admin)",
)
async def create_patient(
    user: Annotated[User, Depends(creator(patients))], body: PatientCreate, db: DbSession
) -> Envelope[Any]:
    data = body.model_dump(exclude_unset=True)
    check_writable(patients, user, data)
    await patients.access.before_create(db, user, data)
    existing = await db.scalar(select(Patient.id).where(Patient.user_id == data["user_id"]))
    if existing is not None:
        raise Conflict("This account already has a patient profile", code="PATIENT_EXISTS")
    row = Patient(id=uuid.uuid4(), **data)
    db.add(row)
    await db.flush()
    return ok((await render_patients(db, user, [row]))[0], "Patient created")


@router.patch("/{id}", response_model=Envelope[PatientOut], summary="Change a patient profile")
async def update_patient(
    row: Annotated[Patient, Depends(changeable(patients))],
    body: PatientUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[Any]:
    data = body.model_dump(exclude_unset=True)
    check_writable(patients, user, data)
    for key, value in data.items():
        setattr(row, key, value)
    await db.flush()
    return ok((await render_patients(db, user, [row]))[0], "Patient updated")


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a patient profile and its medical records (admin; refused while bookings, "
    "appointments, prescriptions, lab tests or payments refer to it)",
)
async def delete_patient(
    row_id: RowId, db: DbSession, admin: AdminUser, storage: StorageDep
) -> Envelope[None]:
    row = await get_visible(db, patients, admin, row_id)
    records = list(
        await db.scalars(select(MedicalRecord).where(MedicalRecord.patient_id == row.id))
    )
    media = list(
        await db.scalars(
            select(Media).where(
                Media.entity_type == RECORD_ENTITY, Media.entity_id.in_([r.id for r in records])
            )
        )
    )
    message = await delete_or_deactivate(db, patients, row)
    keys = list(dict.fromkeys([*(r.file_url for r in records), *(m.file_url for m in media)]))
    await care.delete_with_objects(db, storage, media, keys)
    return ok(None, message)


async def _of_patient(
    db: AsyncSession,
    user: User,
    paging: Pagination,
    patient_id: uuid.UUID,
    resource: Resource[Any, Out],
    column: Any,
) -> Page[Out]:
    """One page of what this patient has under `resource`, as far as the caller may see it (the
    patient must be visible too, else 404)."""
    await get_visible(db, patients, user, patient_id)
    base = select(resource.model).where(column == patient_id)
    return await list_page(db, resource, user, paging, None, base=base)


SUB_LIST = "The patient's {} (those the caller may see)"


@router.get(
    "/{id}/appointments", summary=SUB_LIST.format("appointments"), name="patient_appointments"
)
async def patient_appointments(
    row_id: RowId, db: DbSession, user: CurrentUser, paging: Paging
) -> Page[PatientAppointmentOut]:
    # Issue 10 (Reads): whoever sees an appointment of this patient sees it here (a hospital
    # admin the ones with their hospital's doctors, a doctor theirs, even where the patient's
    # profile is not theirs to see); others 404, like a patient that does not exist.
    if await db.get(Patient, row_id) is None:
        raise patients.not_found()
    try:
        await get_visible(db, patients, user, row_id)
    except NotFound:
        seen = await db.scalar(
            select(Appointment.id)
            .where(Appointment.patient_id == row_id, policies.appointment_scope(user))
            .limit(1)
        )
        if seen is None:
            raise
    base = select(Appointment).where(Appointment.patient_id == row_id)
    return await list_page(db, appointments_of, user, paging, None, base=base)


@router.get("/{id}/bookings", summary=SUB_LIST.format("bookings"), name="patient_bookings")
async def patient_bookings(
    row_id: RowId,
    db: DbSession,
    user: CurrentUser,
    paging: KeysetPagingDep,
    exact_max: ExactTotalMax,
) -> KeysetPage[BookingOut]:
    """The same rows, fields, redaction and paging as GET /bookings?patient_id=… (one query for
    both): a coordinator sees the medical details of the bookings assigned to them only."""
    await get_visible(db, patients, user, row_id)
    return await bookings_service.list_bookings(
        db, user, BookingFilters(patient_id=row_id), paging, exact_max=exact_max
    )


@router.get(
    "/{id}/medical-records",
    summary=SUB_LIST.format("medical records"),
    name="patient_medical_records",
)
async def patient_medical_records(
    row_id: RowId, db: DbSession, user: CurrentUser, paging: Paging
) -> Page[MedicalRecordOut]:
    column = MedicalRecord.patient_id
    return await _of_patient(db, user, paging, row_id, medical_records, column)


@router.get(
    "/{id}/prescriptions", summary=SUB_LIST.format("prescriptions"), name="patient_prescriptions"
)
async def patient_prescriptions(
    row_id: RowId, db: DbSession, user: CurrentUser, paging: Paging
) -> Page[PrescriptionOut]:
    return await _of_patient(db, user, paging, row_id, prescriptions, Prescription.patient_id)


@router.get("/{id}/payments", summary=SUB_LIST.format("payments"), name="patient_payments")
async def patient_payments(
    row_id: RowId, db: DbSession, user: CurrentUser, paging: Paging
) -> Page[PatientPaymentOut]:
    return await _of_patient(db, user, paging, row_id, payments_of, Payment.patient_id)
