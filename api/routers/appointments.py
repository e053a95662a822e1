"""/appointments: teleconsultations from request to completion.

Reads come from PostgreSQL (scoped: a patient their own, a doctor theirs, a hospital admin their
hospital's doctors', staff all; others 404). Every change is a command to the appointment's
workflow, whose table (domain.appointment.TRANSITIONS) decides: 409 INVALID_TRANSITION with the
allowed next statuses, 403 for a role that may not ask, nothing written either way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, status

from api.dates import check_horizon
from api.deps import (
    AdaptersDep,
    DbSession,
    IdempotencyKey,
    SettingsDep,
    Temporal,
    require_roles,
)
from api.envelope import Envelope, KeysetPage, ok
from api.paging import ExactTotalMax, KeysetPagingDep
from api.schemas.appointments import (
    AppointmentCreate,
    AppointmentFilters,
    AppointmentOut,
    AppointmentTimeline,
    AppointmentUpdate,
    CancelIn,
    RescheduleIn,
    StatusChangeIn,
    VideoCallOut,
)
from api.schemas.prescriptions import AppointmentPrescriptionIn, AppointmentPrescriptionOut
from api.services import appointments as service
from api.services import prescriptions
from domain.access import Role
from domain.errors import Invalid, Unprocessable
from domain.models.users import User
from workflows.appointment import (
    AppointmentWorkflow,
    Cancellation,
    DetailsChange,
    Reschedule,
    StatusChange,
)

TAG = {"name": "appointments", "description": "Teleconsultations, from request to completion"}
router = APIRouter(prefix="/appointments", tags=["appointments"])

ALL_ROLES = (Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.COORDINATOR, Role.ADMIN)
AppointmentUser = Annotated[User, Depends(require_roles(*ALL_ROLES))]
Creator = Annotated[User, Depends(require_roles(Role.PATIENT, Role.COORDINATOR, Role.ADMIN))]
Prescriber = Annotated[User, Depends(require_roles(Role.DOCTOR))]


async def visible_appointment(
    appointment_id: uuid.UUID, user: AppointmentUser, db: DbSession
) -> AppointmentOut:
    """The appointment of the path if the caller may see it (404 otherwise), before any body."""
    return await service.get_appointment(db, user, appointment_id)


Visible = Annotated[AppointmentOut, Depends(visible_appointment)]


@router.get(
    "",
    response_model=KeysetPage[AppointmentOut],
    summary="Appointments you may see",
    description="Latest scheduled first. By `page=` (OFFSET: slower the deeper) or by `after=` "
    "(the previous page's `meta.next`: as fast at any depth). `meta.total` is exact up to "
    "MEDIVOY_LIST_EXACT_TOTAL_MAX (10,000) rows, PostgreSQL's estimate above it, with "
    "`meta.total_exact` false.",
)
async def list_appointments(
    user: AppointmentUser,
    db: DbSession,
    paging: KeysetPagingDep,
    exact_max: ExactTotalMax,
    filters: Annotated[AppointmentFilters, Depends()],
) -> KeysetPage[AppointmentOut]:
    return await service.list_appointments(db, user, filters, paging, exact_max=exact_max)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[AppointmentOut],
    summary="Request an appointment (409 SLOT_TAKEN with the next free slots)",
)
async def create_appointment(
    body: AppointmentCreate,
    user: Creator,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Envelope[AppointmentOut]:
    check_horizon(settings, scheduled_date=body.scheduled_date)
    refuse_past(body.scheduled_date, "The requested time is in the past")
    created = await service.create_appointment(db, temporal, settings, user, body, idempotency_key)
    return ok(created, "Appointment requested")


def refuse_past(starts_at: datetime, message: str) -> None:
    """A consultation starts ahead, even with a staff override (it lifts the doctor's hours and
    notice, not the clock): refused here, before the workflow computes its timers from it."""
    if starts_at <= datetime.now(UTC):
        raise Unprocessable(message, code="APPOINTMENT_IN_PAST")


@router.get(
    "/{appointment_id}",
    response_model=Envelope[AppointmentOut],
    summary="An appointment, with its payments and refunds",
)
async def get_appointment(appointment: Visible, db: DbSession) -> Envelope[AppointmentOut]:
    return ok(await service.with_payments(db, appointment))


@router.patch(
    "/{appointment_id}",
    response_model=Envelope[AppointmentOut],
    summary="Change the chief complaint or the notes",
)
async def update_appointment(
    appointment: Visible,
    body: AppointmentUpdate,
    user: AppointmentUser,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[AppointmentOut]:
    changes = body.model_dump(exclude_unset=True)
    if changes:
        await service.command(
            temporal,
            appointment,
            AppointmentWorkflow.edit,
            DetailsChange(caller=service.caller_of(user), fields=sorted(changes), **changes),
            caller=user,
            idempotency_key=idempotency_key,
        )
    return ok(await service.get_appointment(db, user, appointment.id), "Appointment updated")


@router.patch(
    "/{appointment_id}/status", response_model=Envelope[AppointmentOut], summary="Move it on"
)
async def change_status(
    appointment: Visible,
    body: StatusChangeIn,
    user: AppointmentUser,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[AppointmentOut]:
    await service.command(
        temporal,
        appointment,
        AppointmentWorkflow.change_status,
        StatusChange(caller=service.caller_of(user), status=body.status, notes=body.notes),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.get_appointment(db, user, appointment.id), "Appointment updated")


@router.post(
    "/{appointment_id}/reschedule",
    response_model=Envelope[AppointmentOut],
    summary="Move it to a new time (atomic: a taken slot keeps the old one, 409)",
)
async def reschedule(
    appointment: Visible,
    body: RescheduleIn,
    user: AppointmentUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[AppointmentOut]:
    check_horizon(settings, new_scheduled_date=body.new_scheduled_date)
    refuse_past(body.new_scheduled_date, "The new time is in the past")
    await service.command(
        temporal,
        appointment,
        AppointmentWorkflow.reschedule,
        Reschedule(
            caller=service.caller_of(user),
            starts_at=body.new_scheduled_date,
            duration_minutes=body.duration_minutes,
            reason=body.reason,
            override=body.override,
        ),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.get_appointment(db, user, appointment.id), "Appointment rescheduled")


@router.delete(
    "/{appointment_id}",
    response_model=Envelope[AppointmentOut],
    summary="Cancel with a reason (body or query); a paid one is refunded by the notice given",
)
async def cancel(
    appointment: Visible,
    user: AppointmentUser,
    db: DbSession,
    temporal: Temporal,
    body: Annotated[CancelIn | None, Body()] = None,
    reason: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    override: bool = False,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[AppointmentOut]:
    why = (body.reason if body is not None else None) or reason
    if not why:
        raise Invalid(
            "Say why it is cancelled",
            code="REASON_REQUIRED",
            details=[{"field": "reason", "message": "required"}],
        )
    await service.command(
        temporal,
        appointment,
        AppointmentWorkflow.cancel,
        Cancellation(
            caller=service.caller_of(user),
            reason=why,
            override=(body.override if body is not None else False) or override,
        ),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.get_appointment(db, user, appointment.id), "Appointment cancelled")


@router.get(
    "/{appointment_id}/timeline",
    response_model=Envelope[AppointmentTimeline],
    summary="Status history, oldest first, and the reminders sent and pending",
)
async def get_timeline(
    appointment: Visible, db: DbSession, temporal: Temporal
) -> Envelope[AppointmentTimeline]:
    return ok(await service.timeline(db, temporal, appointment))


@router.get(
    "/{appointment_id}/video-call",
    response_model=Envelope[VideoCallOut],
    summary="Your link to the call (from shortly before the start to the end)",
)
async def get_video_call(
    appointment: Visible,
    user: AppointmentUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    adapters: AdaptersDep,
) -> Envelope[VideoCallOut]:
    call = await service.video_call(db, temporal, settings, adapters.video, user, appointment)
    return ok(call)


@router.post(
    "/{appointment_id}/prescription",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[AppointmentPrescriptionOut],
    summary="The doctor's prescription: stored, its PDF e-mailed to the patient in their language",
)
async def provide_prescription(
    user: Prescriber,
    appointment: Visible,
    body: AppointmentPrescriptionIn,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Envelope[AppointmentPrescriptionOut]:
    written = await prescriptions.provide_prescription(
        db, temporal, user, appointment, body, idempotency_key
    )
    return ok(written, "Prescription provided")
