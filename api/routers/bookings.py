"""/bookings: a patient's treatment request through to feedback.

Reads come from PostgreSQL; every change is a command to the booking's workflow, whose
transition table (domain.booking.TRANSITIONS) decides: 409 INVALID_TRANSITION with the allowed
next statuses, 403 for a role that may not ask, 404 for a booking the caller may not see."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, status

from api.dates import check_horizon
from api.deps import DbSession, IdempotencyKey, SettingsDep, Temporal, require_roles
from api.envelope import Envelope, KeysetPage, ok
from api.paging import ExactTotalMax, KeysetPagingDep
from api.schemas.bookings import (
    BOOKING_ROLES,
    BookingCreate,
    BookingFilters,
    BookingOut,
    BookingUpdate,
    CancelIn,
    CoordinatorIn,
    QuotationIn,
    StatusChangeIn,
    Timeline,
)
from api.services import bookings as service
from domain.access import BOOKING_MEDICAL_FIELDS, Role
from domain.errors import Forbidden
from domain.models.users import User
from workflows.booking import (
    BookingWorkflow,
    Cancellation,
    CoordinatorChange,
    DetailsChange,
    Quotation,
    QuotationItem,
    StatusChange,
)

TAG = {"name": "bookings", "description": "Treatment bookings, from request to feedback"}
router = APIRouter(prefix="/bookings", tags=["bookings"])

BookingUser = Annotated[User, Depends(require_roles(*BOOKING_ROLES))]
Creator = Annotated[User, Depends(require_roles(Role.PATIENT, Role.COORDINATOR, Role.ADMIN))]
Assigner = Annotated[User, Depends(require_roles(Role.COORDINATOR, Role.ADMIN))]


async def visible_booking(booking_id: uuid.UUID, user: BookingUser, db: DbSession) -> BookingOut:
    """The booking of the path if the caller may see it (404 otherwise), solved before a write's
    body is validated: who may not see it learns nothing from a bad body either."""
    return await service.get_booking(db, user, booking_id)


VisibleBooking = Annotated[BookingOut, Depends(visible_booking)]


@router.get(
    "",
    response_model=KeysetPage[BookingOut],
    summary="Bookings you may see, newest first",
    description="By `page=` (OFFSET: slower the deeper) or by `after=` (the previous page's "
    "`meta.next`: as fast at any depth, and every row that existed when the walk began comes "
    "exactly once). `meta.total` is exact up to MEDIVOY_LIST_EXACT_TOTAL_MAX (10,000) rows, "
    "PostgreSQL's estimate above it, with `meta.total_exact` false.",
)
async def list_bookings(
    user: BookingUser,
    db: DbSession,
    paging: KeysetPagingDep,
    exact_max: ExactTotalMax,
    filters: Annotated[BookingFilters, Depends()],
) -> KeysetPage[BookingOut]:
    return await service.list_bookings(db, user, filters, paging, exact_max=exact_max)


@router.get("/{booking_id}", response_model=Envelope[BookingOut], summary="A booking")
async def get_booking(
    booking_id: uuid.UUID, user: BookingUser, db: DbSession
) -> Envelope[BookingOut]:
    return ok(await service.get_booking(db, user, booking_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[BookingOut],
    summary="Request a booking (a retry with the same Idempotency-Key returns the same one)",
)
async def create_booking(
    body: BookingCreate,
    user: Creator,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Envelope[BookingOut]:
    check_horizon(settings, requested_date=body.requested_date)
    booking = await service.create_booking(db, temporal, settings, user, body, idempotency_key)
    return ok(booking, "Booking requested")


@router.patch(
    "/{booking_id}",
    response_model=Envelope[BookingOut],
    summary="Change the details while they are still editable",
)
async def update_booking(
    booking: VisibleBooking,
    body: BookingUpdate,
    user: BookingUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BookingOut]:
    check_horizon(settings, requested_date=body.requested_date)
    changes = body.model_dump(exclude_unset=True)
    hidden = sorted(set(BOOKING_MEDICAL_FIELDS) & changes.keys())
    if hidden and not booking.medical_visible:
        # Minimum necessary: who may not read the medical details may not write them either.
        raise Forbidden(
            "Take the booking first: its medical and travel details and notes are its "
            "coordinator's",
            code="BOOKING_NOT_ASSIGNED",
            details={"fields": hidden},
        )
    if changes:
        await service.command(
            temporal,
            booking,
            BookingWorkflow.edit_details,
            DetailsChange(caller=service.caller_of(user), fields=sorted(changes), **changes),
            caller=user,
            idempotency_key=idempotency_key,
        )
    return ok(await service.get_booking(db, user, booking.id), "Booking updated")


@router.delete(
    "/{booking_id}",
    response_model=Envelope[BookingOut],
    summary="Cancel (once paid, the payment is refunded by the cancellation policy)",
)
async def cancel_booking(
    booking: VisibleBooking,
    body: CancelIn,
    user: BookingUser,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BookingOut]:
    await service.command(
        temporal,
        booking,
        BookingWorkflow.cancel,
        Cancellation(caller=service.caller_of(user), reason=body.reason),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.get_booking(db, user, booking.id), "Booking cancelled")


@router.patch("/{booking_id}/status", response_model=Envelope[BookingOut], summary="Move it on")
async def change_status(
    booking: VisibleBooking,
    body: StatusChangeIn,
    user: BookingUser,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BookingOut]:
    view = await service.command(
        temporal,
        booking,
        BookingWorkflow.change_status,
        StatusChange(caller=service.caller_of(user), status=body.status, notes=body.notes),
        caller=user,
        idempotency_key=idempotency_key,
    )
    # Answered from the read before and the workflow's view: one read per move.
    return ok(await service.after_move(db, user, booking, view), "Booking status updated")


@router.post(
    "/{booking_id}/quotation",
    response_model=Envelope[BookingOut],
    summary="Send a quotation (moves the booking to quotation_sent)",
)
async def send_quotation(
    booking: VisibleBooking,
    body: QuotationIn,
    user: BookingUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BookingOut]:
    check_horizon(settings, valid_until=body.valid_until)
    assert body.total_amount is not None  # the schema fills it in
    view = await service.command(
        temporal,
        booking,
        BookingWorkflow.send_quotation,
        Quotation(
            caller=service.caller_of(user),
            items=[QuotationItem(description=i.description, amount=i.amount) for i in body.items],
            currency=body.currency,
            valid_until=body.valid_until,
            notes=body.notes,
            total_amount=body.total_amount,
        ),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.after_move(db, user, booking, view), "Quotation sent")


@router.patch(
    "/{booking_id}/coordinator",
    response_model=Envelope[BookingOut],
    summary="Assign the coordinator (admins; a coordinator takes an unassigned booking)",
)
async def assign_coordinator(
    booking: VisibleBooking,
    body: CoordinatorIn,
    user: Assigner,
    db: DbSession,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BookingOut]:
    await service.assignable_coordinator(db, body.coordinator_id)
    await service.command(
        temporal,
        booking,
        BookingWorkflow.assign_coordinator,
        CoordinatorChange(caller=service.caller_of(user), coordinator_id=body.coordinator_id),
        caller=user,
        idempotency_key=idempotency_key,
    )
    return ok(await service.get_booking(db, user, booking.id), "Coordinator assigned")


@router.get(
    "/{booking_id}/timeline",
    response_model=Envelope[Timeline],
    summary="Status history, oldest first, what the booking waits for now, its teleconsultations",
)
async def get_timeline(
    booking_id: uuid.UUID, user: BookingUser, db: DbSession, temporal: Temporal
) -> Envelope[Timeline]:
    booking = await service.get_booking(db, user, booking_id)
    return ok(await service.timeline(db, temporal, user, booking))
