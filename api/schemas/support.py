"""Support ticket shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from domain.vocabulary import TicketPriority, TicketStatus

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=255)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    message: str
    is_internal: bool
    created_at: datetime


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_number: str
    user_id: uuid.UUID
    subject: str
    description: str | None
    category: str | None
    priority: TicketPriority
    status: TicketStatus
    assigned_to_user_id: uuid.UUID | None
    sla_due_date: datetime | None
    resolution_notes: str | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketOut):
    replies: list[ReplyOut] = []


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject
    description: Message
    category: Category | None = None
    priority: TicketPriority = TicketPriority.MEDIUM


class TicketUpdate(BaseModel):
    """The owner edits subject and description; support staff triage."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    description: Message | None = None
    category: Category | None = None
    priority: TicketPriority | None = None
    status: TicketStatus | None = None
    assigned_to_user_id: uuid.UUID | None = None


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Message
    is_internal: bool = False


class TicketClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution_notes: Message | None = None


class TicketFilters(BaseModel):
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    category: Category | None = None
    assigned_to_user_id: uuid.UUID | None = None
