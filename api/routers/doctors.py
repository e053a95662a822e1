"""/doctors: doctor profiles, their weekly schedule, reviews, appointments and patients.

Who may do what:
- Anyone (no login) reads the profiles of doctors whose account is active and approved, their
  availability, their schedule (the free slots, in the asker's zone; never who holds a taken
  one) and their published reviews. Other profiles are 404, except to an admin and to the
  doctor themself.
- An admin opens a profile for an existing user of type doctor, changes any profile, deletes one.
- A doctor changes their own profile (not rating, total_reviews or user_id) and availability,
  even before approval, so an admin can review a complete profile; an admin of a hospital the
  doctor works at, and an admin, change the availability too.
- A doctor's appointments and patients are for that doctor, an admin of a hospital they work at
  and staff (admins, coordinators), scoped like every appointment read
  (policies.appointment_scope); a hospital admin sees no chief complaint (minimum necessary).

Name and picture live on the doctor's user account and are shown on the profile; the search
term matches first name, last name or specialty. bio and specialty are translated."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import AfterValidator
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import policies
from api.deps import CurrentUser, DbSession, MaybeUser, Paging, RequestLocale, SettingsDep
from api.envelope import Envelope, Page, ok, page
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    check_writable,
    creator,
    delete_row,
    get_visible,
    list_rows,
    render_dicts,
)
from api.schemas.doctors import (
    AvailabilityOut,
    AvailabilityUpdate,
    DoctorAppointmentFilters,
    DoctorAppointmentOut,
    DoctorCreate,
    DoctorFilters,
    DoctorOut,
    DoctorPatientOut,
    DoctorReviewOut,
    DoctorUpdate,
    ScheduleOut,
)
from api.services import availability as schedules
from api.services import catalog
from domain import availability
from domain.access import Role
from domain.errors import Conflict, Forbidden, Invalid
from domain.models.appointments import Appointment
from domain.models.catalog import Doctor, HospitalDoctor
from domain.models.content import Review
from domain.models.users import User

# What a doctor may change about their own profile.
DOCTOR_FIELDS = {
    "specialty",
    "qualification",
    "experience_years",
    "license_number",
    "bio",
    "consultation_fee",
    "languages",
    "is_available_teleconsult",
}


class DoctorAccess(Access[Doctor]):
    """Update and delete go through the routes below: a doctor edits (may_edit) but only an
    admin deletes (before_change, the default)."""

    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        # Always joined: the listing rule and the name search read the doctor's user.
        stmt = stmt.join(User, User.id == Doctor.user_id)
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        if user is not None and user.user_type == Role.DOCTOR:
            return stmt.where(or_(catalog.listed_doctor(), Doctor.user_id == user.id))
        return stmt.where(catalog.listed_doctor())

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return None
        return DOCTOR_FIELDS if user.user_type == Role.DOCTOR else set()

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        owner = await db.get(User, data["user_id"])
        if owner is None or owner.user_type != Role.DOCTOR:
            raise Invalid(
                "user_id must be an existing user of type doctor",
                code="USER_NOT_DOCTOR",
                details={"field": "user_id"},
            )
        if await db.scalar(select(Doctor.id).where(Doctor.user_id == owner.id)):
            raise Conflict("This user already has a doctor profile", code="DOCTOR_PROFILE_EXISTS")

    def may_edit(self, user: User, doctor: Doctor) -> None:
        if user.user_type == Role.ADMIN or doctor.user_id == user.id:
            return
        raise Forbidden("Only this doctor or an administrator may do this", code="NOT_THIS_DOCTOR")


def _speaks(language: str) -> Any:
    spoken = func.jsonb_array_elements_text(Doctor.languages).table_valued("value")
    return exists(
        select(1).select_from(spoken).where(func.lower(spoken.c.value) == language.lower())
    )


access = DoctorAccess()
doctors = Resource(
    model=Doctor,
    name="doctor",
    out=DoctorOut,
    access=access,
    filter_rules={
        "specialty": lambda v: func.lower(Doctor.specialty) == v.lower(),
        "hospital_id": lambda v: Doctor.id.in_(
            select(HospitalDoctor.doctor_id).where(HospitalDoctor.hospital_id == v)
        ),
        "language": _speaks,
        "teleconsult": lambda v: Doctor.is_available_teleconsult.is_(v),
        "fee_min": lambda v: Doctor.consultation_fee >= v,
        "fee_max": lambda v: Doctor.consultation_fee <= v,
    },
    search=(User.first_name, User.last_name, Doctor.specialty),
    sortable=("created_at", "rating", "consultation_fee", "experience_years"),
    default_sort="-rating",
    translated=("bio", "specialty"),
)

TAG = {"name": "doctors", "description": "Doctors, their schedules, reviews and patients"}

# The profile carries the name from the doctor's user account (catalog.add_identity).
router = APIRouter(prefix="/doctors", tags=["doctors"])
Sort = Annotated[str | None, Query(pattern=doctors.sort_pattern, description=SORT_HELP)]


async def profiles(
    db: AsyncSession, rows: list[Doctor], locale: str | None
) -> list[dict[str, Any]]:
    return await catalog.add_identity(db, await render_dicts(db, doctors, rows, locale))


async def doctor_to_edit(row_id: RowId, db: DbSession, user: CurrentUser) -> Doctor:
    """The doctor of the path, if the caller is that doctor or an admin: before the body."""
    doctor = await get_visible(db, doctors, user, row_id)
    access.may_edit(user, doctor)
    return doctor


EditableDoctor = Annotated[Doctor, Depends(doctor_to_edit)]


async def doctor_to_manage(row_id: RowId, db: DbSession, user: CurrentUser) -> Doctor:
    """The doctor of the path, if the caller is that doctor, an admin of their hospital or an
    admin: checked before the body."""
    doctor = await get_visible(db, doctors, user, row_id)
    await schedules.may_manage(db, user, doctor)
    return doctor


ManagedDoctor = Annotated[Doctor, Depends(doctor_to_manage)]


@router.get("", response_model=Page[DoctorOut], summary="List doctors", name="list_doctor")
async def list_doctors(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[DoctorFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[Any]:
    rows, total = await list_rows(db, doctors, user, paging, filters, search, sort)
    items = await profiles(db, list(rows), locale)
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.get("/{id}", response_model=Envelope[DoctorOut], summary="One doctor", name="get_doctor")
async def get_doctor(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    return ok((await profiles(db, [doctor], locale))[0])


@router.delete("/{id}", summary="Delete a doctor", name="delete_doctor")
async def delete_doctor(
    row: Annotated[Doctor, Depends(changeable(doctors))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, doctors, user, row))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[DoctorOut],
    summary="Open a doctor profile for a doctor user (admin)",
    name="create_doctor",
)
async def create_doctor(
    user: Annotated[User, Depends(creator(doctors))], body: DoctorCreate, db: DbSession
) -> Envelope[Any]:
    data = body.model_dump(exclude_unset=True)
    await access.before_create(db, user, data)
    check_writable(doctors, user, data)
    doctor = Doctor(id=uuid.uuid4(), **data)
    db.add(doctor)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict("This user already has a doctor profile", code="DOCTOR_CONFLICT") from exc
    return ok((await profiles(db, [doctor], None))[0], "Doctor created")


@router.patch(
    "/{id}",
    response_model=Envelope[DoctorOut],
    summary="Change a doctor profile (admin, the doctor)",
    name="update_doctor",
)
async def update_doctor(
    doctor: EditableDoctor, body: DoctorUpdate, db: DbSession, user: CurrentUser
) -> Envelope[Any]:
    data = body.model_dump(exclude_unset=True)
    check_writable(doctors, user, data)
    for key, value in data.items():
        setattr(doctor, key, value)
    await db.flush()
    return ok((await profiles(db, [doctor], None))[0], "Doctor updated")


def _zone(value: str | None) -> str | None:
    return None if value is None else availability.check_timezone(value)


Zone = Annotated[
    str | None,
    AfterValidator(_zone),
    Query(description="IANA zone to show the slots in (else yours, else the doctor's)"),
]


@router.get(
    "/{id}/schedule",
    response_model=Envelope[ScheduleOut],
    summary="A doctor's free slots in your time zone, and their availability (public)",
)
async def get_schedule(
    row_id: RowId,
    db: DbSession,
    user: MaybeUser,
    settings: SettingsDep,
    date_from: Annotated[
        date | None, Query(alias="from", description="First date (ISO), today by default")
    ] = None,
    date_to: Annotated[
        date | None,
        Query(alias="to", description="Last date (ISO, inclusive), up to 180 days ahead"),
    ] = None,
    tz: Zone = None,
) -> Envelope[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    return ok(
        await schedules.schedule(
            db,
            doctor,
            user,
            date_from=date_from,
            date_to=date_to,
            tz=tz,
            default_timezone=settings.default_timezone,
        )
    )


@router.get(
    "/{id}/availability",
    response_model=Envelope[AvailabilityOut],
    summary="A doctor's availability: hours, dates off and booking rules (public)",
)
async def get_availability(
    row_id: RowId, db: DbSession, user: MaybeUser, settings: SettingsDep
) -> Envelope[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    return ok(schedules.render(doctor, settings.default_timezone))


@router.patch(
    "/{id}/availability",
    response_model=Envelope[AvailabilityOut],
    summary="Change a doctor's availability (the doctor, their hospital admin, admin)",
)
async def set_availability(
    doctor: ManagedDoctor, body: AvailabilityUpdate, db: DbSession, settings: SettingsDep
) -> Envelope[Any]:
    for key, value in body.changes().items():
        setattr(doctor, key, value)
    await db.flush()
    return ok(schedules.render(doctor, settings.default_timezone), "Availability updated")


@router.get(
    "/{id}/reviews",
    response_model=Page[DoctorReviewOut],
    summary="A doctor's published reviews (public)",
)
async def list_reviews(row_id: RowId, db: DbSession, user: MaybeUser, paging: Paging) -> Page[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    stmt = select(Review).where(Review.doctor_id == doctor.id, Review.is_published.is_(True))
    total = await catalog.count(db, stmt)
    rows = await db.scalars(
        stmt.order_by(Review.created_at.desc(), Review.id).offset(paging.offset).limit(paging.limit)
    )
    items = [DoctorReviewOut.model_validate(r) for r in rows]
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.get(
    "/{id}/appointments",
    response_model=Page[DoctorAppointmentOut],
    summary="A doctor's appointments (the doctor, their hospital's admin, staff)",
)
async def list_appointments(
    row_id: RowId,
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    filters: Annotated[DoctorAppointmentFilters, Depends()],
    sort: Annotated[str | None, Query(pattern="^-?scheduled_date$")] = None,
) -> Page[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    await schedules.may_read_appointments(db, user, doctor)
    stmt = select(Appointment).where(
        Appointment.doctor_id == doctor.id, policies.appointment_scope(user)
    )
    if filters.status:
        stmt = stmt.where(Appointment.status == filters.status)
    if filters.date_from:
        stmt = stmt.where(Appointment.scheduled_date >= filters.date_from)
    if filters.date_to:
        stmt = stmt.where(Appointment.scheduled_date < filters.date_to)
    total = await catalog.count(db, stmt)
    when = Appointment.scheduled_date
    order = when.asc() if sort == "scheduled_date" else when.desc()
    rows = await db.scalars(
        stmt.order_by(order, Appointment.id).offset(paging.offset).limit(paging.limit)
    )
    items = [DoctorAppointmentOut.model_validate(r) for r in rows]
    if user.user_type == Role.HOSPITAL_ADMIN:
        # The hospital's admin runs the schedule, not the consultation.
        items = [item.model_copy(update={"chief_complaint": None}) for item in items]
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.get(
    "/{id}/patients",
    response_model=Page[DoctorPatientOut],
    summary="The patients a doctor has appointments with (the doctor, their hospital's admin, "
    "staff)",
)
async def list_patients(
    row_id: RowId, db: DbSession, user: CurrentUser, paging: Paging
) -> Page[Any]:
    doctor = await get_visible(db, doctors, user, row_id)
    await schedules.may_read_appointments(db, user, doctor)
    items, total = await catalog.doctor_patients(
        db, doctor.id, paging, scope=policies.appointment_scope(user)
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)
