"""/hospitals: the public catalog of verified hospitals; admins and each hospital's own admin
keep it current, with the doctors who work there and the treatments it offers at its prices.
The worked example of a resource built on api.crud.

Reads are public (unlisted hospitals are 404 except to admins and their own admin). Changing a
hospital, its doctors or its treatments takes an admin or that hospital's approved
hospital_admin; creating, deleting and verifying one takes an admin.
GET /hospitals/{id}/analytics from the plan is not built yet."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, status
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.crud import (
    Access,
    MaybeUser,
    RequestLocale,
    Resource,
    RowId,
    crud_router,
    delete_or_deactivate,
    get_visible,
    render,
)
from api.deps import AdminUser, CurrentUser, DbSession, Pagination, Paging
from api.envelope import Envelope, Page, ok, page
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
        if user.user_type == Role.ADMIN:
            return
        if (
            user.user_type == Role.HOSPITAL_ADMIN
            and user.is_approved
            and row.admin_user_id == user.id
        ):
            return
        raise Forbidden(
            "Only this hospital's administrator may change it", code="NOT_HOSPITAL_ADMIN"
        )


hospitals = Resource(
    model=Hospital,
    name="hospital",
    out=HospitalOut,
    create=HospitalCreate,
    update=HospitalUpdate,
    access=HospitalAccess(),
    filters=HospitalFilters,
    filter_rules={
        "country": lambda v: func.lower(Hospital.country) == v.lower(),
        "city": lambda v: func.lower(Hospital.city) == v.lower(),
    },
    search=(Hospital.name, Hospital.city, Hospital.country, Hospital.specializations),
    sortable=("created_at", "name", "country", "city"),
    translated=("name", "description"),
)

TAG = {"name": "hospitals", "description": "Partner hospitals, their doctors and treatments"}
ORDER = 10

# Delete is below: only an admin removes a hospital (its own admin edits it).
router = crud_router(
    hospitals, prefix="/hospitals", tag="hospitals", ops=("list", "get", "create", "update")
)
DoctorId = Annotated[uuid.UUID, Path(alias="doctorId", description="The doctor's id")]


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a hospital (admin); one still referenced is deactivated",
    name="delete_hospital",
)
async def delete_hospital(row_id: RowId, db: DbSession, admin: AdminUser) -> dict[str, Any]:
    hospital = await get_visible(db, hospitals, admin, row_id)
    return ok(None, await delete_or_deactivate(db, hospitals, hospital))


def manages(user: User | None, hospital: Hospital) -> bool:
    """An admin, or this hospital's own approved administrator."""
    if user is None:
        return False
    if user.user_type == Role.ADMIN:
        return True
    return (
        user.user_type == Role.HOSPITAL_ADMIN
        and user.is_approved
        and hospital.admin_user_id == user.id
    )


async def managed_hospital(db: AsyncSession, user: User, hospital_id: uuid.UUID) -> Hospital:
    hospital = await get_visible(db, hospitals, user, hospital_id)
    await hospitals.access.before_change(db, user, hospital)
    return hospital


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
) -> dict[str, Any]:
    hospital = await get_visible(db, hospitals, admin, row_id)
    hospital.is_verified = (body or HospitalVerify()).is_verified
    await db.flush()
    message = "Hospital verified" if hospital.is_verified else "Hospital no longer verified"
    return ok((await render(db, hospitals, [hospital], locale))[0], message)


@router.get(
    "/{id}/doctors",
    response_model=Page[HospitalDoctorOut],
    summary="The doctors working at a hospital",
)
async def list_hospital_doctors(
    row_id: RowId, db: DbSession, user: MaybeUser, paging: Paging, locale: RequestLocale
) -> dict[str, Any]:
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
    row_id: RowId, body: HospitalDoctorCreate, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    hospital = await managed_hospital(db, user, row_id)
    if await db.get(Doctor, body.doctor_id) is None:
        raise NotFound("Doctor not found", code="DOCTOR_NOT_FOUND")
    if body.start_date and body.end_date and body.end_date < body.start_date:
        raise Invalid(
            "end_date is before start_date",
            code="DATES_OUT_OF_ORDER",
            details={"field": "end_date"},
        )
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
    row_id: RowId, doctor_id: DoctorId, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    hospital = await managed_hospital(db, user, row_id)
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
) -> dict[str, Any]:
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
    row_id: RowId, body: HospitalTreatmentCreate, db: DbSession, user: CurrentUser
) -> dict[str, Any]:
    hospital = await managed_hospital(db, user, row_id)
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
