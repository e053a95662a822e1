"""/users/me/devices: the caller registers a device for push notifications (its FCM token)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from api.deps import CurrentUser, DbSession
from api.envelope import ERROR_RESPONSES, Envelope, ok
from domain.models.notifications import UserDevice

TAG = {"name": "devices", "description": "Your devices for push notifications"}

router = APIRouter(prefix="/users/me/devices", tags=["devices"], responses=ERROR_RESPONSES)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The FCM registration token of the app install.
    token: str = Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_:.\-]+$")
    platform: Literal["android", "ios", "web"]


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform: str
    created_at: datetime
    updated_at: datetime


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[DeviceOut],
    summary="Register a device for push (again: refreshed; another user's token moves to you)",
)
async def register_device(body: DeviceIn, user: CurrentUser, db: DbSession) -> Envelope[DeviceOut]:
    statement = insert(UserDevice).values(
        id=uuid.uuid4(), user_id=user.id, token=body.token, platform=body.platform
    )
    device = await db.scalar(
        statement.on_conflict_do_update(
            index_elements=["token"],
            set_={"user_id": user.id, "platform": body.platform, "updated_at": func.now()},
        ).returning(UserDevice)
    )
    return ok(DeviceOut.model_validate(device), "Device registered")
