"""/notifications: a user's own inbox; admins send new messages through the delivery workflow."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, status

from api.audit import record
from api.deps import AdminUser, CurrentUser, DbSession, Paging, SettingsDep, Temporal
from api.envelope import Envelope, Page, ok, page
from api.schemas.notifications import (
    NotificationCreate,
    NotificationOut,
    NotificationQueued,
    ReadAllResult,
)
from api.services import notifications as service
from domain.errors import NotFound, Unavailable
from domain.models.notifications import Channel
from domain.models.users import User
from workflows.messages import NotificationRequest, notification_workflow_id

TAG = {"name": "notifications", "description": "Your notifications; admins send new ones"}

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationOut])
async def list_notifications(
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    channel: Channel | None = None,
) -> Page[NotificationOut]:
    rows, total = await service.list_for_user(
        db, user.id, unread=unread, channel=channel, offset=paging.offset, limit=paging.limit
    )
    return page(
        [NotificationOut.model_validate(r) for r in rows],
        page=paging.page,
        limit=paging.limit,
        total=total,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Envelope[NotificationQueued])
async def create_notification(
    body: NotificationCreate,
    admin: AdminUser,
    db: DbSession,
    settings: SettingsDep,
    temporal: Temporal,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=100,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="Repeat a request with the same key and it is delivered once",
        ),
    ] = None,
) -> Envelope[NotificationQueued]:
    recipient = await db.get(User, body.user_id)
    if recipient is None:
        raise NotFound("No user with this id", code="USER_NOT_FOUND", details={"field": "user_id"})
    key = f"admin:{admin.id}:{idempotency_key}" if idempotency_key else f"admin:{uuid.uuid4()}"
    channels = list(dict.fromkeys(body.channels))
    request = NotificationRequest(
        dedupe_key=key,
        user_id=recipient.id,
        template="generic",
        channels=channels,
        type=body.type,
        reference_type=body.reference_type,
        reference_id=body.reference_id,
        context={
            "title": body.title,
            "message": body.message,
            "first_name": recipient.first_name or "",
        },
    )
    record(
        db,
        "notifications",
        None,
        {"dedupe_key": key, "user_id": recipient.id, "channels": [c.value for c in channels]},
        op="send",
    )
    await db.commit()
    if not await service.start(temporal, settings, request, raise_unavailable=True):
        raise Unavailable("The message could not be queued; try again", code="NOTIFY_FAILED")
    return ok(
        NotificationQueued(
            dedupe_key=key, workflow_id=notification_workflow_id(key), channels=channels
        ),
        "Notification queued for delivery",
    )


@router.patch("/read-all", response_model=Envelope[ReadAllResult])
async def read_all(user: CurrentUser, db: DbSession) -> Envelope[ReadAllResult]:
    updated = await service.mark_all_read(db, user.id)
    record(db, "notifications", None, {"is_read": True, "count": updated})
    return ok(ReadAllResult(updated=updated), "All notifications marked as read")


@router.patch("/{notification_id}/read", response_model=Envelope[NotificationOut])
async def read_one(
    notification_id: uuid.UUID, user: CurrentUser, db: DbSession
) -> Envelope[NotificationOut]:
    row = await service.mark_read(db, user.id, notification_id)
    return ok(NotificationOut.model_validate(row), "Notification marked as read")


@router.delete("/{notification_id}", response_model=Envelope[None])
async def delete_notification(
    notification_id: uuid.UUID, user: CurrentUser, db: DbSession
) -> Envelope[None]:
    await service.remove(db, user.id, notification_id)
    return ok(None, "Notification deleted")
