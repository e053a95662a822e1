"""Bookings: reads from PostgreSQL scoped to who may see them; every change goes to the booking's
workflow (rule 1), which answers with the stored result or refuses (409/403 via api/errors.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, case, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import UpdateMethodMultiParam

from activities.bookings import NewBooking
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
from api.schemas.appointments import AppointmentFilters
from api.schemas.bookings import (
    BookingCreate,
    BookingFilters,
    BookingOut,
    Timeline,
    TimelineEvent,
    WaitingForOut,
)
from api.services import appointments as appointment_service
from api.services import lifecycle
from domain.access import BOOKING_MEDICAL_FIELDS, Role
from domain.booking import TERMINAL, BookingPaymentStatus, BookingStatus, next_statuses
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from domain.models.appointments import Appointment
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Hospital, Package, Treatment
from domain.models.users import Patient, User
from runtime.settings import Settings
from workflows.booking import (
    BookingInput,
    BookingTimers,
    BookingView,
    BookingWorkflow,
    Caller,
    open_booking,
)
from workflows.messages import booking_workflow_id

# Booking ids made from (patient, Idempotency-Key): a retried POST reaches the same workflow.
BOOKING_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-5c9e-8a1f-0d2e4b6c8a10")

PatientUser = aliased(User)
Actor = aliased(User)


def caller_of(user: User) -> Caller:
    return Caller(user_id=user.id, role=Role(user.user_type))


def _detail_query(user: User) -> Any:
    """One query: the booking with the names of its patient, hospital, treatment and package,
    and whether the caller sees its medical details (policies.booking_medical_scope)."""
    patient_name = func.nullif(
        func.concat_ws(" ", PatientUser.first_name, PatientUser.last_name), ""
    ).label("patient_name")
    return (
        select(
            Booking,
            patient_name,
            Hospital.name.label("hospital_name"),
            Treatment.name.label("treatment_name"),
            Package.name.label("package_name"),
            case((policies.booking_medical_scope(user), True), else_=False).label("medical"),
        )
        .join(Patient, Patient.id == Booking.patient_id)
        .outerjoin(PatientUser, PatientUser.id == Patient.user_id)
        .outerjoin(Hospital, Hospital.id == Booking.hospital_id)
        .outerjoin(Treatment, Treatment.id == Booking.treatment_id)
        .outerjoin(Package, Package.id == Booking.package_id)
        # The workflow wrote the row meanwhile: never answer from the session's stale copy.
        .execution_options(populate_existing=True)
    )


def _out(row: Any) -> BookingOut:
    """The booking as the caller may see it: the medical and travel details and the notes are
    null unless medical_visible (a coordinator sees them once the booking is theirs)."""
    booking, patient_name, hospital_name, treatment_name, package_name, medical = row
    out = BookingOut.model_validate(booking)
    update: dict[str, Any] = {
        "patient_name": patient_name,
        "hospital_name": hospital_name,
        "treatment_name": treatment_name,
        "package_name": package_name,
        "medical_visible": bool(medical),
    }
    if not medical:
        update.update(dict.fromkeys(BOOKING_MEDICAL_FIELDS))
    answer = out.model_copy(update=update)
    answer._status_seq = booking.status_seq
    return answer


def _list_where(conditions: list[ColumnElement[bool]], filters: BookingFilters) -> Any:
    if filters.status is not None:
        conditions.append(Booking.status == filters.status.value)
    if filters.patient_id is not None:
        conditions.append(Booking.patient_id == filters.patient_id)
    if filters.hospital_id is not None:
        conditions.append(Booking.hospital_id == filters.hospital_id)
    if filters.coordinator_id is not None:
        conditions.append(Booking.coordinator_id == filters.coordinator_id)
    if filters.created_from is not None:
        conditions.append(Booking.created_at >= day_start(filters.created_from))
    end = day_after(filters.created_to) if filters.created_to is not None else None
    if end is not None:
        conditions.append(Booking.created_at < end)
    return and_(*conditions)


async def list_bookings(
    db: AsyncSession, user: User, filters: BookingFilters, paging: KeysetPaging, *, exact_max: int
) -> KeysetPage[BookingOut]:
    """A page newest first (api/paging.py: `page=` or `after=`, a capped exact total). The
    page's ids come first, from the (…, created_at, id) indexes alone; then the details of those
    rows only. Joined in one query, a deep page read and joined every row it skipped."""
    where = _list_where([await policies.booking_scope_read_first(db, user)], filters)
    page_ids = window_ids(where, Booking.created_at, Booking.id, paging)
    rows = (
        await db.execute(
            _detail_query(user)
            .add_columns(capped_count(where, Booking.id, exact_max))
            .join(page_ids, page_ids.c.id == Booking.id)
            .order_by(page_ids.c.key.desc(), page_ids.c.id.desc())
        )
    ).all()
    window = window_of([_out(r[:-1]) for r in rows], paging, lambda b: (b.created_at, b.id))
    counted = rows[0][-1] if rows else None
    total = await total_of(
        db, where, Booking.id, paging, window, exact_max=exact_max, counted=counted
    )
    return keyset_page(paging, window, total)


async def get_booking(db: AsyncSession, user: User, booking_id: uuid.UUID) -> BookingOut:
    row = (
        await db.execute(
            _detail_query(user).where(Booking.id == booking_id, policies.booking_scope(user))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("Booking not found", code="BOOKING_NOT_FOUND")
    return _out(row)


def booking_id_for(patient_id: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    if not idempotency_key:
        return uuid.uuid4()
    return uuid.uuid5(BOOKING_NAMESPACE, f"{patient_id}:{idempotency_key}")


async def next_booking_number(db: AsyncSession) -> str:
    number = await db.scalar(text("SELECT nextval('booking_number_seq')"))
    return f"MV-BK-{datetime.now(UTC).year}-{int(number or 0):06d}"


async def _checked(db: AsyncSession, user: User, body: BookingCreate) -> uuid.UUID:
    """Whom the booking is for and whether its hospital, treatment and package exist and are
    active, read in one query; the errors come in the order they always did (patient first)."""

    def active(model: Any, entity_id: uuid.UUID | None) -> Any:
        if entity_id is None:
            return literal(None)
        return select(model.is_active).where(model.id == entity_id).scalar_subquery()

    if user.user_type == Role.PATIENT:
        patient: Any = select(Patient.id).where(Patient.user_id == user.id).scalar_subquery()
    elif body.patient_id is not None:
        patient = select(Patient.id).where(Patient.id == body.patient_id).scalar_subquery()
    else:
        patient = literal(None)
    row = (
        await db.execute(
            select(
                patient.label("patient"),
                active(Hospital, body.hospital_id).label("hospital"),
                active(Treatment, body.treatment_id).label("treatment"),
                active(Package, body.package_id).label("package"),
            )
        )
    ).one()
    if user.user_type == Role.PATIENT:
        if row.patient is None:
            raise Invalid("Your account has no patient record", code="NO_PATIENT_RECORD")
        if body.patient_id is not None and body.patient_id != row.patient:
            raise Forbidden("Patients book for themselves only", code="NOT_YOUR_PATIENT_RECORD")
    elif body.patient_id is None:
        raise Invalid(
            "Name the patient this booking is for",
            code="PATIENT_REQUIRED",
            details=[{"field": "patient_id", "message": "required"}],
        )
    elif row.patient is None:
        raise Invalid("No such patient", code="PATIENT_NOT_FOUND", details={"field": "patient_id"})
    if not row.hospital:
        raise Invalid(
            "No such hospital", code="HOSPITAL_NOT_FOUND", details={"field": "hospital_id"}
        )
    if body.treatment_id is not None and not row.treatment:
        raise Invalid(
            "No such treatment", code="TREATMENT_NOT_FOUND", details={"field": "treatment_id"}
        )
    if body.package_id is not None and not row.package:
        raise Invalid("No such package", code="PACKAGE_NOT_FOUND", details={"field": "package_id"})
    patient_id: uuid.UUID = row.patient
    return patient_id


async def create_booking(
    db: AsyncSession,
    temporal: Client,
    settings: Settings,
    user: User,
    body: BookingCreate,
    idempotency_key: str | None,
) -> BookingOut:
    """Make the id and number, let the workflow store the row (update-with-start), read it."""
    patient_id = await _checked(db, user, body)
    booking_id = booking_id_for(patient_id, idempotency_key)
    # Without a key the id is new (uuid4): only a retried request can find its booking stored.
    existing = await db.get(Booking, booking_id) if idempotency_key else None
    if existing is None:
        booking = NewBooking(
            booking_id=booking_id,
            booking_number=await next_booking_number(db),
            patient_id=patient_id,
            hospital_id=body.hospital_id,
            treatment_id=body.treatment_id,
            package_id=body.package_id,
            booking_type=body.booking_type.value,
            requested_date=body.requested_date,
            medical_details=body.medical_details,
            travel_details=body.travel_details,
            notes=body.notes,
            # A coordinator who files a booking for a patient takes care of it.
            coordinator_id=user.id if user.user_type == Role.COORDINATOR else None,
            created_by_user_id=user.id,
            created_by_role=user.user_type,
        )
        timers = BookingTimers(
            review_sla_hours=settings.booking_review_sla_hours,
            quotation_reminder_hours=settings.quotation_reminder_hours,
        )
        # WorkflowAlreadyStarted: the booking's workflow has run to its end; the row is there.
        with contextlib.suppress(WorkflowAlreadyStartedError), _carrying("booking_id", booking_id):
            await open_booking(
                temporal,
                settings.task_queue,
                BookingInput(
                    booking=booking,
                    timers=timers,
                    refund_policy=settings.cancellation_refund_percent,
                ),
            )
    return await get_booking(db, user, booking_id)


A = TypeVar("A")


@contextlib.contextmanager
def _carrying(name: str, entity_id: uuid.UUID) -> Iterator[None]:
    """A create past its deadline answers with the id the entity will have (rule 11)."""
    try:
        yield
    except Unavailable as exc:
        exc.details = {**(exc.details or {}), name: str(entity_id)}
        raise


async def command(
    temporal: Client,
    booking: BookingOut,
    update: UpdateMethodMultiParam[[BookingWorkflow, A], BookingView],
    arg: A,
    *,
    caller: User | None = None,
    idempotency_key: str | None = None,
) -> BookingView:
    """Send a command to the booking's workflow; its validator decides. A workflow that has
    ended (a terminal booking) takes no more commands: 409 with nothing allowed."""
    status = BookingStatus(booking.status)
    closed = None
    if status in TERMINAL:
        closed = Conflict(
            f"The booking is {status.value}: it takes no more changes",
            code="INVALID_TRANSITION",
            details={"allowed": [s.value for s in next_statuses(status)]},
        )
    return await lifecycle.command(
        temporal,
        booking_workflow_id(booking.id),
        update,
        arg,
        closed=closed,
        caller_id=caller.id if caller is not None else None,
        idempotency_key=idempotency_key,
    )


async def after_move(
    db: AsyncSession, user: User, before: BookingOut, view: BookingView
) -> BookingOut:
    """The booking as the caller may see it after their move: the row read before the command
    (visible_booking) with what the workflow says the move set (its status, the fields it
    changed, the row's updated_at as written), without reading the row again. Read again when
    the view cannot tell (a worker from before it said) or another move came in between."""
    if (
        view.changes is None
        or view.updated_at is None
        or before._status_seq is None
        or view.seq != before._status_seq + 1
    ):
        return await get_booking(db, user, before.id)
    changed = {
        name: value
        for name, value in view.changes.model_dump().items()
        if value is not None and name in BookingOut.model_fields
    }
    if not before.medical_visible:
        for name in BOOKING_MEDICAL_FIELDS:
            changed.pop(name, None)
    if "payment_status" in changed:
        # model_copy does not validate: the enum the field holds, not the stored text.
        changed["payment_status"] = BookingPaymentStatus(changed["payment_status"])
    answer = before.model_copy(
        update={
            **changed,
            "status": view.status,
            "coordinator_id": view.coordinator_id,
            "updated_at": view.updated_at,
        }
    )
    answer._status_seq = view.seq
    return answer


async def assignable_coordinator(db: AsyncSession, coordinator_id: uuid.UUID) -> None:
    user = await db.get(User, coordinator_id)
    if user is None or user.user_type != Role.COORDINATOR or not user.is_active:
        raise Invalid(
            "That user is not an active coordinator",
            code="INVALID_COORDINATOR",
            details={"field": "coordinator_id"},
        )


# A booking's teleconsultations on its timeline: at most this many, soonest first.
TIMELINE_APPOINTMENTS = 50


async def timeline(db: AsyncSession, temporal: Client, user: User, booking: BookingOut) -> Timeline:
    actor_name = func.nullif(func.concat_ws(" ", Actor.first_name, Actor.last_name), "")
    rows = await db.execute(
        select(BookingStatusHistory, actor_name)
        .outerjoin(Actor, Actor.id == BookingStatusHistory.changed_by_user_id)
        .where(BookingStatusHistory.booking_id == booking.id)
        .order_by(BookingStatusHistory.seq)
    )
    events = [
        TimelineEvent(
            seq=h.seq,
            status=BookingStatus(h.to_status),
            from_status=BookingStatus(h.from_status) if h.from_status else None,
            at=h.created_at,
            by={"user_id": h.changed_by_user_id, "role": h.actor_role, "name": name},
            notes=h.notes,
        )
        for h, name in rows.all()
    ]
    appointments = (
        await appointment_service.list_appointments(
            db,
            user,
            AppointmentFilters(),
            KeysetPaging(page=1, limit=TIMELINE_APPOINTMENTS, after=None),
            exact_max=TIMELINE_APPOINTMENTS,
            base=Appointment.booking_id == booking.id,
        )
    ).data
    appointments.sort(key=lambda a: (a.scheduled_date, str(a.id)))
    return Timeline(
        events=events,
        waiting_for=await _waiting_for(temporal, booking),
        appointments=appointments,
    )


async def _waiting_for(temporal: Client, booking: BookingOut) -> WaitingForOut | None:
    """The one live detail (the next timer) comes from the workflow; reads never depend on it."""
    if booking.status in TERMINAL:
        return None
    handle = temporal.get_workflow_handle(booking_workflow_id(booking.id))
    try:
        waiting = await handle.query(BookingWorkflow.waiting_for, rpc_timeout=timedelta(seconds=5))
    except Exception:
        return None
    return WaitingForOut(description=waiting.description, until=waiting.until)
