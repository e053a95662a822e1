"""Appointments: reads from PostgreSQL scoped by api/policies.appointment_scope; every change is
a command to the appointment's workflow (rule 1), which answers with the stored result or
refuses (409/403/422 via api/errors.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import UpdateMethodMultiParam

from activities.appointments import NewAppointment
from activities.providers.video import VideoRoom, VideoRooms
from api import policies
from api.dates import day_after, day_start
from api.envelope import KeysetPage
from api.paging import (
    KeysetPaging,
    capped_count,
    keyset_page,
    total_of,
    window_ids,
    window_of,
)
from api.schemas.appointments import (
    AppointmentCreate,
    AppointmentFilters,
    AppointmentOut,
    AppointmentPaymentOut,
    AppointmentTimeline,
    ReminderOut,
    TimelineEvent,
    VideoCallOut,
)
from api.services import lifecycle
from api.services import subscriptions as subscription_limits
from domain.access import APPOINTMENT_MEDICAL_FIELDS, STAFF, Role
from domain.appointment import (
    CONSULTED,
    TERMINAL,
    UPCOMING,
    AppointmentStatus,
    next_statuses,
    parse_offsets,
)
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.bookings import Booking
from domain.models.catalog import Doctor
from domain.models.notifications import Notification
from domain.models.payments import Payment
from domain.models.users import Patient, User
from domain.payment import PaymentStatus
from runtime.settings import Settings
from workflows._kit import Caller
from workflows.appointment import (
    AppointmentInput,
    AppointmentTimers,
    AppointmentView,
    AppointmentWorkflow,
    open_appointment,
)
from workflows.messages import AppointmentSignal, ParticipantJoined, appointment_workflow_id

APPOINTMENT_NAMESPACE = uuid.UUID("9a3e1c7b-52d4-5f08-b6a1-3c4d5e6f7a80")
DEFAULT_CURRENCY = "USD"

PatientUser = aliased(User)
DoctorUser = aliased(User)
ActorUser = aliased(User)


def caller_of(user: User) -> Caller:
    return Caller(user_id=user.id, role=Role(user.user_type))


def _name(model: Any) -> Any:
    return func.nullif(func.concat_ws(" ", model.first_name, model.last_name), "")


def _detail_query(user: User) -> Any:
    return (
        select(
            Appointment,
            _name(PatientUser).label("patient_name"),
            _name(DoctorUser).label("doctor_name"),
            policies.appointment_medical_scope(user).label("medical_visible"),
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(PatientUser, PatientUser.id == Patient.user_id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .outerjoin(DoctorUser, DoctorUser.id == Doctor.user_id)
        .execution_options(populate_existing=True)
    )


def _out(row: Any, user: User) -> AppointmentOut:
    appointment, patient_name, doctor_name, medical_visible = row
    out = AppointmentOut.model_validate(appointment)
    update: dict[str, Any] = {
        "patient_name": patient_name,
        "doctor_name": doctor_name,
        "has_video_room": appointment.video_room_id is not None,
        "next_statuses": next_statuses(AppointmentStatus(appointment.status), user.user_type),
    }
    if not medical_visible:
        update.update(dict.fromkeys(APPOINTMENT_MEDICAL_FIELDS))
    return out.model_copy(update=update)


async def list_appointments(
    db: AsyncSession,
    user: User,
    filters: AppointmentFilters,
    paging: KeysetPaging,
    *,
    exact_max: int,
    base: ColumnElement[bool] | None = None,
) -> KeysetPage[AppointmentOut]:
    """A page, latest scheduled first (api/paging.py: `page=` or `after=`, a capped exact
    total): the page's ids first, then the details of those rows only."""
    conditions: list[ColumnElement[bool]] = [policies.appointment_scope(user)]
    if base is not None:
        conditions.append(base)
    if filters.status is not None:
        conditions.append(Appointment.status == filters.status.value)
    if filters.patient_id is not None:
        conditions.append(Appointment.patient_id == filters.patient_id)
    if filters.doctor_id is not None:
        conditions.append(Appointment.doctor_id == filters.doctor_id)
    if filters.date_from is not None:
        conditions.append(Appointment.scheduled_date >= day_start(filters.date_from))
    after = day_after(filters.date_to) if filters.date_to is not None else None
    if after is not None:
        conditions.append(Appointment.scheduled_date < after)
    where = and_(*conditions)
    page_ids = window_ids(where, Appointment.scheduled_date, Appointment.id, paging)
    rows = (
        await db.execute(
            _detail_query(user)
            .add_columns(capped_count(where, Appointment.id, exact_max))
            .join(page_ids, page_ids.c.id == Appointment.id)
            .order_by(page_ids.c.key.desc(), page_ids.c.id.desc())
        )
    ).all()
    window = window_of(
        [_out(r[:-1], user) for r in rows], paging, lambda a: (a.scheduled_date, a.id)
    )
    counted = rows[0][-1] if rows else None
    total = await total_of(
        db, where, Appointment.id, paging, window, exact_max=exact_max, counted=counted
    )
    return keyset_page(paging, window, total)


async def get_appointment(
    db: AsyncSession, user: User, appointment_id: uuid.UUID
) -> AppointmentOut:
    row = (
        await db.execute(
            _detail_query(user).where(
                Appointment.id == appointment_id, policies.appointment_scope(user)
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("Appointment not found", code="APPOINTMENT_NOT_FOUND")
    return _out(row, user)


# A payment that took the money (its state is the appointment's payment state).
_MONEY_TAKEN = {
    PaymentStatus.COMPLETED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
}


async def with_payments(db: AsyncSession, appointment: AppointmentOut) -> AppointmentOut:
    """The appointment with its payments and refunds, read from the payments rows (their
    workflow is their writer)."""
    rows = list(
        await db.scalars(
            select(Payment)
            .where(Payment.appointment_id == appointment.id)
            .order_by(Payment.created_at, Payment.id)
        )
    )
    payments = [AppointmentPaymentOut.model_validate(row) for row in rows]
    taken = [p for p in payments if p.status in _MONEY_TAKEN]
    chosen = taken or payments
    current = chosen[-1] if chosen else None
    refunded = sum((p.refund_amount or Decimal("0") for p in payments), Decimal("0"))
    return appointment.model_copy(
        update={
            "payments": payments,
            "payment_status": current.status if current is not None else None,
            "refunded_amount": refunded if payments else None,
        }
    )


def appointment_id_for(patient_id: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    if not idempotency_key:
        return uuid.uuid4()
    return uuid.uuid5(APPOINTMENT_NAMESPACE, f"{patient_id}:{idempotency_key}")


def appointment_number_for(appointment_id: uuid.UUID) -> str:
    return f"MV-AP-{datetime.now(UTC).year}-{appointment_id.hex[:12].upper()}"


async def _patient_for(db: AsyncSession, user: User, body: AppointmentCreate) -> uuid.UUID:
    if user.user_type == Role.PATIENT:
        own = await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
        if own is None:
            raise Invalid("Your account has no patient record", code="NO_PATIENT_RECORD")
        if body.patient_id is not None and body.patient_id != own:
            raise Forbidden("Patients book for themselves only", code="NOT_YOUR_PATIENT_RECORD")
        return own
    if body.patient_id is None:
        raise Invalid(
            "Name the patient this appointment is for",
            code="PATIENT_REQUIRED",
            details=[{"field": "patient_id", "message": "required"}],
        )
    if await db.get(Patient, body.patient_id) is None:
        raise Invalid("No such patient", code="PATIENT_NOT_FOUND", details={"field": "patient_id"})
    return body.patient_id


async def _check_links(
    db: AsyncSession, user: User, body: AppointmentCreate, patient_id: uuid.UUID
) -> None:
    if body.override and user.user_type not in STAFF:
        raise Forbidden("Only staff may book outside the doctor's rules", code="ROLE_NOT_ALLOWED")
    if body.booking_id is not None:
        if user.user_type not in STAFF:
            raise Forbidden("Staff schedule a booking's teleconsult", code="ROLE_NOT_ALLOWED")
        booking = await db.get(Booking, body.booking_id)
        if booking is None or booking.patient_id != patient_id:
            raise Invalid(
                "No such booking of this patient",
                code="BOOKING_NOT_FOUND",
                details={"field": "booking_id"},
            )
    if body.follow_up_of is not None:
        first = await db.get(Appointment, body.follow_up_of)
        if first is None or first.patient_id != patient_id or first.doctor_id != body.doctor_id:
            raise Invalid(
                "No such appointment of this patient with this doctor",
                code="APPOINTMENT_NOT_FOUND",
                details={"field": "follow_up_of"},
            )
        if AppointmentStatus(first.status) not in CONSULTED:
            raise Conflict(
                "A follow-up is booked during or after the consultation it follows",
                code="FOLLOW_UP_NOT_ALLOWED",
            )


def timers_of(settings: Settings) -> AppointmentTimers:
    return AppointmentTimers(
        confirm_hours=settings.appointment_confirm_hours,
        awaiting_hours=settings.appointment_awaiting_hours,
        prepayment_hours=settings.appointment_prepayment_hours,
        reminder_minutes=[
            int(o.total_seconds() // 60)
            for o in parse_offsets(settings.appointment_reminder_offsets)
        ],
        quiet_hours=settings.appointment_quiet_hours,
        no_show_grace_minutes=settings.appointment_no_show_grace_minutes,
        no_show_fee_percent=settings.appointment_no_show_fee_percent,
        video_open_minutes=settings.video_open_minutes,
    )


async def create_appointment(
    db: AsyncSession,
    temporal: Client,
    settings: Settings,
    user: User,
    body: AppointmentCreate,
    idempotency_key: str | None,
) -> AppointmentOut:
    """Make the id and number, price the fee from the doctor, let the workflow take the slot and
    store the row (update-with-start), read it back."""
    patient_id = await _patient_for(db, user, body)
    doctor = await db.get(Doctor, body.doctor_id)
    if doctor is None:
        raise Invalid("No such doctor", code="DOCTOR_NOT_FOUND", details={"field": "doctor_id"})
    doctor_user = await db.get(User, doctor.user_id)
    if doctor_user is None or not doctor_user.is_active or not doctor_user.is_approved:
        raise Invalid("This doctor takes no appointments", code="DOCTOR_NOT_AVAILABLE")
    await _check_links(db, user, body, patient_id)
    appointment_id = appointment_id_for(patient_id, idempotency_key)
    if await db.get(Appointment, appointment_id) is None:
        # The doctor's (or their hospital's) plan bounds appointments per month.
        await subscription_limits.check_appointment_limit(
            db, settings, doctor.id, body.scheduled_date.astimezone(UTC)
        )
        fee = doctor.consultation_fee
        new = NewAppointment(
            appointment_id=appointment_id,
            appointment_number=appointment_number_for(appointment_id),
            patient_id=patient_id,
            doctor_id=doctor.id,
            booking_id=body.booking_id,
            follow_up_of=body.follow_up_of,
            appointment_type=body.appointment_type.value,
            starts_at=body.scheduled_date.astimezone(UTC),
            duration_minutes=body.duration_minutes or doctor.slot_minutes,
            consultation_fee=fee,
            currency=DEFAULT_CURRENCY if fee is not None else None,
            chief_complaint=body.chief_complaint,
            created_by_user_id=user.id,
            created_by_role=user.user_type,
            override=body.override,
        )
        try:
            await open_appointment(
                temporal,
                settings.task_queue,
                AppointmentInput(
                    appointment=new,
                    requires_prepayment=bool(doctor.requires_prepayment)
                    and (fee or Decimal(0)) > 0,
                    timers=timers_of(settings),
                    refund_policy=settings.appointment_refund_policy,
                ),
            )
        except WorkflowAlreadyStartedError:
            if await db.get(Appointment, appointment_id) is None:
                raise Conflict(
                    "An earlier request with this Idempotency-Key was refused; use a new key",
                    code="APPOINTMENT_REQUEST_REFUSED",
                ) from None
    return await get_appointment(db, user, appointment_id)


A = TypeVar("A")


async def command(
    temporal: Client,
    appointment: AppointmentOut,
    update: UpdateMethodMultiParam[[AppointmentWorkflow, A], AppointmentView],
    arg: A,
    *,
    caller: User | None = None,
    idempotency_key: str | None = None,
) -> AppointmentView:
    status = AppointmentStatus(appointment.status)
    closed = None
    if status in TERMINAL:
        closed = Conflict(
            f"The appointment is {status.value}: it takes no more changes",
            code="INVALID_TRANSITION",
            details={"allowed": []},
        )
    return await lifecycle.command(
        temporal,
        appointment_workflow_id(appointment.id),
        update,
        arg,
        closed=closed,
        caller_id=caller.id if caller is not None else None,
        idempotency_key=idempotency_key,
    )


async def timeline(
    db: AsyncSession, temporal: Client, appointment: AppointmentOut
) -> AppointmentTimeline:
    rows = await db.execute(
        select(AppointmentStatusHistory, _name(ActorUser))
        .outerjoin(ActorUser, ActorUser.id == AppointmentStatusHistory.changed_by_user_id)
        .where(AppointmentStatusHistory.appointment_id == appointment.id)
        .order_by(AppointmentStatusHistory.seq)
    )
    events = [
        TimelineEvent(
            seq=h.seq,
            status=AppointmentStatus(h.to_status),
            from_status=AppointmentStatus(h.from_status) if h.from_status else None,
            at=h.created_at,
            by={"user_id": h.changed_by_user_id, "role": h.actor_role, "name": name},
            notes=h.notes,
        )
        for h, name in rows.all()
    ]
    # Reminders sent: the stored notifications; pending: the workflow's plan (its one live
    # detail, rule 6). A closed workflow has nothing pending.
    sent_rows = await db.execute(
        select(Notification.dedupe_key, func.min(Notification.created_at))
        .where(
            Notification.reference_id == appointment.id,
            Notification.dedupe_key.like(f"appointment:{appointment.id}:reminder:%"),
        )
        .group_by(Notification.dedupe_key)
    )
    # One notification a channel: a reminder was sent when its first one was.
    sent_at: dict[str, datetime] = {}
    for key, at in sent_rows.all():
        parts = key.split(":")
        if len(parts) > 4:
            sent_at[parts[4]] = min(at, sent_at.get(parts[4], at))
    out = AppointmentTimeline(events=events)
    if AppointmentStatus(appointment.status) not in TERMINAL:
        handle = temporal.get_workflow_handle(appointment_workflow_id(appointment.id))
        try:
            waiting = await handle.query(
                AppointmentWorkflow.waiting_for, rpc_timeout=timedelta(seconds=5)
            )
        except Exception:
            waiting = None
        if waiting is not None:
            out.waiting_for = waiting.description
            out.until = waiting.until
            out.reminders = [
                ReminderOut(label=r.label, at=r.at, state="sent" if r.sent else "pending")
                for r in waiting.reminders
            ]
            return out
    out.reminders = [
        ReminderOut(label=label, at=at, state="sent")
        for label, at in sorted(sent_at.items(), key=lambda item: item[1])
    ]
    return out


async def video_call(
    db: AsyncSession,
    temporal: Client,
    settings: Settings,
    video: VideoRooms | None,
    user: User,
    appointment: AppointmentOut,
) -> VideoCallOut:
    """The caller's link to the call, only from the window before the start to the end; the
    patient's and the doctor's opening tells the workflow they joined."""
    role = user.user_type
    if role not in (Role.PATIENT, Role.DOCTOR, *STAFF):
        raise Forbidden(
            "Only the patient, the doctor and staff join the call", code="ROLE_NOT_ALLOWED"
        )
    row = await db.get(Appointment, appointment.id, populate_existing=True)
    assert row is not None
    opens_at = row.scheduled_date - timedelta(minutes=settings.video_open_minutes)
    closes_at = row.ends_at
    now = datetime.now(UTC)
    status = AppointmentStatus(row.status)
    live = status in UPCOMING or status == AppointmentStatus.CONSULTATION_IN_PROGRESS
    if row.video_room_id is None or video is None or not live or not opens_at <= now <= closes_at:
        raise Conflict(
            f"The call opens at {opens_at.isoformat()} and closes at {closes_at.isoformat()}"
            if live or status in (AppointmentStatus.REQUESTED, AppointmentStatus.BOOKED)
            else f"The appointment is {status.value}: there is no call",
            code="VIDEO_CALL_NOT_OPEN",
            details={"opens_at": opens_at.isoformat(), "closes_at": closes_at.isoformat()},
        )
    party = "patient" if role == Role.PATIENT else "doctor" if role == Role.DOCTOR else "staff"
    url = video.join_url(
        VideoRoom(room_id=row.video_room_id, url=row.video_call_link or ""),
        party=party,
        user_id=str(user.id),
        expires_at=closes_at,
    )
    if party in ("patient", "doctor"):
        handle = temporal.get_workflow_handle(appointment_workflow_id(row.id))
        await handle.signal(
            AppointmentSignal.PARTICIPANT_JOINED,
            ParticipantJoined(party=party, user_id=user.id, at=now),
        )
    return VideoCallOut(url=url, opens_at=opens_at, closes_at=closes_at, provider=video.provider)
