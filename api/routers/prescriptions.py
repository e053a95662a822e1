"""/prescriptions: written by a doctor for an appointment of theirs (the patient comes from the
appointment), read by the patient's care team. Medico-legal: only an admin deletes one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.crud import Access, Resource, RowId, crud_router, delete_or_deactivate, get_visible
from api.deps import AdminUser, DbSession
from api.envelope import Envelope, ok
from api.schemas.prescriptions import (
    PrescriptionCreate,
    PrescriptionFilters,
    PrescriptionOut,
    PrescriptionUpdate,
)
from api.services import care
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
        if user is None:
            return stmt.where(false())
        role = user.user_type
        if role == Role.ADMIN:
            return stmt
        if role == Role.PATIENT:
            return stmt.where(Prescription.patient_id.in_(care.own_patient_ids(user)))
        if role == Role.DOCTOR and user.is_approved:
            return stmt.where(
                or_(
                    Prescription.doctor_id == care.caller_doctor_id(user),
                    Prescription.patient_id.in_(care.doctor_patient_ids(user)),
                )
            )
        if role == Role.COORDINATOR:
            return stmt.where(Prescription.patient_id.in_(care.coordinated_patient_ids(user)))
        return stmt.where(false())

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
    create=PrescriptionCreate,
    update=PrescriptionUpdate,
    access=PrescriptionAccess(),
    filters=PrescriptionFilters,
    search=(Prescription.instructions, Prescription.medications),
    sortable=("created_at", "valid_until"),
)

TAG = {"name": "prescriptions", "description": "Prescriptions written at appointments"}
ORDER = 41

router = crud_router(
    prescriptions,
    prefix="/prescriptions",
    tag="prescriptions",
    ops=("list", "get", "create", "update"),
)


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a prescription (admin; a medico-legal record)",
    name="delete_prescription",
)
async def delete_prescription(row_id: RowId, db: DbSession, admin: AdminUser) -> dict[str, Any]:
    row = await get_visible(db, prescriptions, admin, row_id)
    return ok(None, await delete_or_deactivate(db, prescriptions, row))
