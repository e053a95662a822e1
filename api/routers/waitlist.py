"""/doctors/{id}/waitlist: patients waiting for a doctor's freed slot (api/services/waitlist).

The offer itself comes from the doctor's waitlist workflow, as a notification and a slot held for
the patient; it is taken by booking that slot (POST /appointments with its start)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status

from api.deps import CurrentUser, DbSession, Paging, SettingsDep, Temporal, require_roles
from api.envelope import Envelope, Page, ok, page
from api.resources import RowId, get_visible
from api.routers.doctors import doctors
from api.schemas.waitlist import WaitlistEntryOut, WaitlistFilters, WaitlistJoin
from api.services import waitlist as service
from domain.access import Role
from domain.models.catalog import Doctor
from domain.models.users import User

TAG = {"name": "waitlist", "description": "Waiting for a doctor's freed slot"}
router = APIRouter(prefix="/doctors", tags=["waitlist"])
EntryId = Annotated[uuid.UUID, Path(description="The waitlist entry's id")]


async def visible_doctor(row_id: RowId, db: DbSession, user: CurrentUser) -> Doctor:
    return await get_visible(db, doctors, user, row_id)


VisibleDoctor = Annotated[Doctor, Depends(visible_doctor)]
# Checked before the body is read: only patients join.
Joiner = Annotated[User, Depends(require_roles(Role.PATIENT))]


@router.post(
    "/{id}/waitlist",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[WaitlistEntryOut],
    summary="Wait for a freed slot on a date or in a date range (a patient)",
)
async def join_waitlist(
    user: Joiner,
    doctor: VisibleDoctor,
    db: DbSession,
    settings: SettingsDep,
    body: WaitlistJoin,
) -> Envelope[Any]:
    entry = await service.join(db, user, doctor, body, default_timezone=settings.default_timezone)
    return ok(entry, "On the waitlist")


@router.get(
    "/{id}/waitlist",
    response_model=Page[WaitlistEntryOut],
    summary="The waitlist (the doctor, their hospital admin, staff; a patient: their own)",
)
async def list_waitlist(
    doctor: VisibleDoctor,
    user: CurrentUser,
    db: DbSession,
    settings: SettingsDep,
    paging: Paging,
    filters: Annotated[WaitlistFilters, Depends()],
) -> Page[Any]:
    items, total = await service.listing(
        db,
        user,
        doctor,
        filters,
        offset=paging.offset,
        limit=paging.limit,
        default_timezone=settings.default_timezone,
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.delete(
    "/{id}/waitlist/{entry_id}",
    response_model=Envelope[WaitlistEntryOut],
    summary="Leave the waitlist (the entry's patient, staff)",
)
async def leave_waitlist(
    doctor: VisibleDoctor,
    entry_id: EntryId,
    user: CurrentUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
) -> Envelope[Any]:
    entry = await service.leave(
        db, temporal, user, doctor, entry_id, default_timezone=settings.default_timezone
    )
    return ok(entry, "Left the waitlist")
