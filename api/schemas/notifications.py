"""Notification shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.models.notifications import Channel


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str | None
    message: str | None
    type: str | None
    reference_type: str | None
    reference_id: uuid.UUID | None
    channel: Channel
    is_read: bool
    read_at: datetime | None
    is_sent: bool
    sent_at: datetime | None
    created_at: datetime


class NotificationCreate(BaseModel):
    """An admin sends a message to one user on the chosen channels."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    type: Annotated[str, StringConstraints(max_length=50)] = "general"
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.IN_APP], min_length=1, max_length=len(Channel)
    )
    reference_type: Annotated[str, StringConstraints(max_length=50)] | None = None
    reference_id: uuid.UUID | None = None


class NotificationQueued(BaseModel):
    dedupe_key: str
    workflow_id: str
    channels: list[Channel]


class ReadAllResult(BaseModel):
    updated: int
