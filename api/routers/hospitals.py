"""/hospitals: the public catalog of verified hospitals; admins and each hospital's own admin
keep it current, with the doctors who work there and the treatments it offers at its prices.
The worked example of a resource built on the kit of api/resources.py.

Reads are public (unlisted hospitals are 404 except to admins and their own admin). Changing a
hospital, its doctors or its treatments takes an admin or that hospital's approved
hospital_admin; creating, deleting and verifying one takes an admin.
GET /hospitals/{id}/analytics from the plan is not built yet."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import policies
from api.deps import (
    AdminUser,
    CurrentUser,
    DbSession,
    MaybeUser,
    Pagination,
    Paging,
    RequestLocale,
    SettingsDep,
)
from api.envelope import Envelope, Page, ok, page
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    create_row,
    creator,
    delete_or_deactivate,
    get_visible,
    list_page,
    render_one,
    update_row,
)
from api.schemas.hospitals import (
    HospitalCreate,
    HospitalDoctorCreate,
    HospitalDoctorOut,
    HospitalFilters,
    HospitalOut,
    HospitalTreatmentCreate,
    HospitalTreatmentOut,
    HospitalUpdate,
    HospitalVerify,
)
from api.services import catalog
from api.services import subscriptions as subscription_limits
from domain import access
from domain.access import Role
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.catalog import Doctor, Hospital, HospitalDoctor, HospitalTreatment, Treatment
from domain.models.users import User

# What a hospital's own admin may change about their hospital (not verification, not who
# administers it, not whether it is listed).
HOSPITAL_ADMIN_FIELDS = {
    "name",
    "type",
    "description",
    "logo",
    "country",
    "city",
    "address",
    "latitude",
    "longitude",
    "phone",
    "email",
    "website",
    "certifications",
    "specializations",
    "bank_details",
}


class HospitalAccess(Access[Hospital]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        listed = catalog.listed_hospital()
        if user is not None and user.user_type == Role.HOSPITAL_ADMIN:
            return stmt.where(or_(listed, Hospital.admin_user_id == user.id))
        return stmt.where(listed)

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return None
        return HOSPITAL_ADMIN_FIELDS

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if manages(user, row):
            return
        raise Forbidden(
            "Only this hospital's administrator may change it", code="NOT_HOSPITAL_ADMIN"
        )


hospitals = Resource(
    model=Hospital,
    name="hospital",
    out=HospitalOut,
    access=HospitalAccess(),
    filter_rules={
        "country": lambda v: func.lower(Hospital.country) == v.lower(),
        "city": lambda v: func.lower(Hospital.city) == v.lower(),
    },
    search=(Hospital.name, Hospital.city, Hospital.country, Hospital.specializations),
    sortable=("created_at", "name", "country", "city"),
    translated=("name", "description"),
)

TAG = {"name": "hospitals", "description": "Partner hospitals, their doctors and treatments"}

router = APIRouter(prefix="/hospitals", tags=["hospitals"])
Sort = Annotated[str | None, Query(pattern=hospitals.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List hospitals", name="list_hospital")
async def list_hospitals(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[HospitalFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[HospitalOut]:
    return await list_page(db, hospitals, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One hospital", name="get_hospital")
async def get_hospital(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[HospitalOut]:
    row = await get_visible(db, hospitals, user, row_id)
    return ok(await render_one(db, hospitals, row, locale))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a hospital", name="create_hospital"
)
async def create_hospital(
    user: Annotated[User, Depends(creator(hospitals))], body: HospitalCreate, db: DbSession
) -> Envelope[HospitalOut]:
    row = await create_row(db, hospitals, user, body.model_dump(exclude_unset=True))
    return ok(HospitalOut.model_validate(row), "Hospital created")


@router.patch("/{id}", summary="Change a hospital", name="update_hospital")
async def update_hospital(
    row: Annotated[Hospital, Depends(changeable(hospitals))],
    body: HospitalUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[HospitalOut]:
    await update_row(db, hospitals, user, row, body.model_dump(exclude_unset=True))
    return ok(HospitalOut.model_validate(row), "Hospital updated")


DoctorId = Annotated[uuid.UUID, Path(alias="doctorId", description="The doctor's id")]


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a hospital (admin); one still referenced is deactivated",
    name="delete_hospital",
)
async def delete_hospital(row_id: RowId, db: DbSession, admin: AdminUser) -> Envelope[None]:
    hospital = await get_visible(db, hospitals, admin, row_id)
    return ok(None, await delete_or_deactivate(db, hospitals, hospital))


def manages(user: User | None, hospital: Hospital) -> bool:
    """An admin, or this hospital's own approved administrator."""
    return user is not None and access.manages_hospital(
        policies.person_of(user), hospital.admin_user_id
    )


# The hospital of the path, if the caller manages it (404 unseen, 403 not theirs): before the body.
ManagedHospital = Annotated[Hospital, Depends(changeable(hospitals))]


@router.patch(
    "/{id}/verify",
    response_model=Envelope[HospitalOut],
    summary="Verify (or un-verify) a hospital (admin)",
)
async def verify_hospital(
    row_id: RowId,
    db: DbSession,
    admin: AdminUser,
    locale: RequestLocale,
    body: HospitalVerify | None = None,
) -> Envelope[HospitalOut]:
    hospital = await get_visible(db, hospitals, admin, row_id)
    hospital.is_verified = (body or HospitalVerify()).is_verified
    await db.flush()
    message = "Hospital verified" if hospital.is_verified else "Hospital no longer verified"
    return ok(await render_one(db, hospitals, hospital, locale), message)


@router.get(
    "/{id}/doctors",
    response_model=Page[HospitalDoctorOut],
    summary="The doctors working at a hospital",
)
async def list_hospital_doctors(
    row_id: RowId, db: DbSession, user: MaybeUser, paging: Paging, locale: RequestLocale
) -> Page[Any]:
    hospital = await get_visible(db, hospitals, user, row_id)
    items, total = await catalog.hospital_doctors(
        db, hospital.id, listed_only=not manages(user, hospital), paging=paging, locale=locale
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.post(
    "/{id}/doctors",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[HospitalDoctorOut],
    summary="Affiliate a doctor with a hospital (admin, the hospital's admin)",
)
async def add_hospital_doctor(
    hospital: ManagedHospital, body: HospitalDoctorCreate, db: DbSession, settings: SettingsDep
) -> Envelope[Any]:
    if await db.get(Doctor, body.doctor_id) is None:
        raise NotFound("Doctor not found", code="DOCTOR_NOT_FOUND")
    if body.start_date and body.end_date and body.end_date < body.start_date:
        raise Invalid(
            "end_date is before start_date",
            code="DATES_OUT_OF_ORDER",
            details={"field": "end_date"},
        )
    # The hospital's plan bounds its doctors (409 PLAN_LIMIT_REACHED, nothing written): counted
    # under the hospital's plan lock, held by this transaction until the link below commits, so
    # two concurrent requests for the last slot cannot both pass.
    await subscription_limits.check_doctor_limit(db, settings, hospital.id)
    link = HospitalDoctor(id=uuid.uuid4(), hospital_id=hospital.id, **body.model_dump())
    db.add(link)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This doctor already works at this hospital", code="HOSPITAL_DOCTOR_EXISTS"
        ) from exc
    items, _ = await catalog.hospital_doctors(
        db,
        hospital.id,
        listed_only=False,
        paging=Pagination(page=1, limit=1),
        locale=None,
        doctor_id=link.doctor_id,
    )
    return ok(items[0], "Doctor added to hospital")


@router.delete(
    "/{id}/doctors/{doctorId}",
    response_model=Envelope[None],
    summary="End a doctor's affiliation with a hospital (admin, the hospital's admin)",
)
async def remove_hospital_doctor(
    hospital: ManagedHospital, doctor_id: DoctorId, db: DbSession
) -> Envelope[None]:
    link = await db.scalar(
        select(HospitalDoctor).where(
            HospitalDoctor.hospital_id == hospital.id, HospitalDoctor.doctor_id == doctor_id
        )
    )
    if link is None:
        raise NotFound(
            "This doctor does not work at this hospital", code="HOSPITAL_DOCTOR_NOT_FOUND"
        )
    await db.delete(link)
    await db.flush()
    return ok(None, "Doctor removed from hospital")


@router.get(
    "/{id}/treatments",
    response_model=Page[HospitalTreatmentOut],
    summary="The treatments a hospital offers, with its prices",
)
async def list_hospital_treatments(
    row_id: RowId, db: DbSession, user: MaybeUser, paging: Paging, locale: RequestLocale
) -> Page[Any]:
    hospital = await get_visible(db, hospitals, user, row_id)
    items, total = await catalog.hospital_treatments(
        db, hospital.id, listed_only=not manages(user, hospital), paging=paging, locale=locale
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.post(
    "/{id}/treatments",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[HospitalTreatmentOut],
    summary="Offer a treatment at a hospital, at its price (admin, the hospital's admin)",
)
async def add_hospital_treatment(
    hospital: ManagedHospital, body: HospitalTreatmentCreate, db: DbSession
) -> Envelope[Any]:
    treatment = await db.scalar(
        select(Treatment).where(Treatment.id == body.treatment_id, catalog.listed_treatment())
    )
    if treatment is None:
        raise NotFound("Treatment not found", code="TREATMENT_NOT_FOUND")
    offer = HospitalTreatment(id=uuid.uuid4(), hospital_id=hospital.id, **body.model_dump())
    db.add(offer)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This hospital already offers this treatment", code="HOSPITAL_TREATMENT_EXISTS"
        ) from exc
    await db.refresh(offer)  # the stored scale of prices and rates
    return ok(catalog.offer_item(offer, treatment), "Treatment added to hospital")
