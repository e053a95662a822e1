"""/prescriptions: written by a doctor for an appointment of theirs (the patient comes from the
appointment), read by the patient's care team. Medico-legal: only an admin deletes one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.invoicing import PDF_CONTENT_TYPE
from api import policies
from api.deps import (
    AdminUser,
    CurrentUser,
    DbSession,
    Paging,
    RequestLocale,
    SettingsDep,
    StorageDep,
    Temporal,
)
from api.envelope import Envelope, Page, ok
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
from api.schemas.prescriptions import (
    PrescriptionCreate,
    PrescriptionFilters,
    PrescriptionOut,
    PrescriptionUpdate,
)
from api.services import prescriptions as service
from domain.access import Role
from domain.appointment import AppointmentStatus
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.appointments import Appointment
from domain.models.care import Prescription
from domain.models.catalog import Doctor
from domain.models.users import User


class PrescriptionAccess(Access[Prescription]):
    """Patients read their own; doctors those they wrote and those of their patients;
    coordinators those of the patients whose bookings they coordinate; admins all. Only the
    prescribing doctor (or an admin) changes one."""

    create_roles = frozenset({Role.DOCTOR, Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(
            policies.care_scope(user, Prescription.patient_id, Prescription.doctor_id)
        )

    def writable_fields(self, user: User) -> set[str] | None:
        # Every field is the prescriber's: who may create or change is decided by before_create
        # and before_change, which refuse everyone else first.
        return None

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        if not user.is_approved:
            raise Forbidden(
                "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
            )
        appointment = await db.get(Appointment, data["appointment_id"])
        own_doctor = await self._doctor_id(db, user)
        if appointment is None or (
            user.user_type == Role.DOCTOR and appointment.doctor_id != own_doctor
        ):
            raise NotFound("Appointment not found", code="APPOINTMENT_NOT_FOUND")
        if appointment.status == AppointmentStatus.CANCELLED:
            raise Conflict("The appointment was cancelled", code="APPOINTMENT_CANCELLED")
        mismatched = [
            name
            for name, value in (
                ("patient_id", appointment.patient_id),
                ("doctor_id", appointment.doctor_id),
            )
            if data.get(name) not in (None, value)
        ]
        if mismatched:
            raise Invalid(
                "These do not match the appointment: " + ", ".join(mismatched),
                code="PRESCRIPTION_MISMATCH",
                details={"fields": mismatched},
            )
        data["patient_id"] = appointment.patient_id
        data["doctor_id"] = appointment.doctor_id

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if user.user_type == Role.DOCTOR and row.doctor_id == await self._doctor_id(db, user):
            return
        raise Forbidden(
            "Only the prescribing doctor may change this prescription", code="NOT_PRESCRIBER"
        )

    @staticmethod
    async def _doctor_id(db: AsyncSession, user: User) -> Any:
        return await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))


prescriptions = Resource(
    model=Prescription,
    name="prescription",
    out=PrescriptionOut,
    access=PrescriptionAccess(),
    search=(Prescription.instructions, Prescription.medications),
    sortable=("created_at", "valid_until"),
)

TAG = {"name": "prescriptions", "description": "Prescriptions written at appointments"}

router = APIRouter(prefix="/prescriptions", tags=["prescriptions"])
Sort = Annotated[str | None, Query(pattern=prescriptions.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List prescriptions", name="list_prescription")
async def list_prescriptions(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[PrescriptionFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[PrescriptionOut]:
    return await list_page(db, prescriptions, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One prescription", name="get_prescription")
async def get_prescription(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[PrescriptionOut]:
    row = await get_visible(db, prescriptions, user, row_id)
    return ok(await render_one(db, prescriptions, row, locale))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a prescription",
    name="create_prescription",
)
async def create_prescription(
    user: Annotated[User, Depends(creator(prescriptions))], body: PrescriptionCreate, db: DbSession
) -> Envelope[PrescriptionOut]:
    row = await create_row(db, prescriptions, user, body.model_dump(exclude_unset=True))
    return ok(PrescriptionOut.model_validate(row), "Prescription created")


@router.patch("/{id}", summary="Change a prescription", name="update_prescription")
async def update_prescription(
    row: Annotated[Prescription, Depends(changeable(prescriptions))],
    body: PrescriptionUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[PrescriptionOut]:
    changes = body.model_dump(exclude_unset=True)
    _refuse_changes_once_issued(row, changes)
    await update_row(db, prescriptions, user, row, changes)
    return ok(PrescriptionOut.model_validate(row), "Prescription updated")


# What the issued PDF says: once it is out (e-mailed, downloadable), the record must keep saying
# the same, or a pharmacist holding the PDF and one reading the record would dispense different
# things. A correction is a new prescription (its own id, PDF and e-mail); the issued one stays
# as it was, for the record. Marking it dispensed stays possible.
ISSUED_FIELDS = ("medications", "instructions", "valid_until")


def _refuse_changes_once_issued(row: Prescription, changes: dict[str, Any]) -> None:
    if row.pdf_url is None:
        return
    changed = sorted(
        name for name in ISSUED_FIELDS if name in changes and changes[name] != getattr(row, name)
    )
    if changed:
        raise Conflict(
            "This prescription's PDF has been issued: its "
            + ", ".join(changed)
            + " can no longer change. Write a new prescription instead.",
            code="PRESCRIPTION_ISSUED",
            details={"fields": changed},
        )


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a prescription (admin; a medico-legal record)",
    name="delete_prescription",
)
async def delete_prescription(row_id: RowId, db: DbSession, admin: AdminUser) -> Envelope[None]:
    row = await get_visible(db, prescriptions, admin, row_id)
    return ok(None, await delete_or_deactivate(db, prescriptions, row))


@router.get(
    "/{id}/pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Download the prescription PDF (the patient's care team, as for medical records)",
    name="prescription_pdf",
)
async def prescription_pdf(
    row_id: RowId,
    db: DbSession,
    user: CurrentUser,
    storage: StorageDep,
    temporal: Temporal,
    settings: SettingsDep,
) -> StreamingResponse:
    """The stored PDF; one not rendered yet is rendered by the worker first, once."""
    row = await get_visible(db, prescriptions, user, row_id)
    stream, file_name = await service.open_pdf(db, temporal, settings, storage, row)
    return StreamingResponse(
        stream,
        media_type=PDF_CONTENT_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{file_name}"',
            "Cache-Control": "private, no-store",
        },
    )
