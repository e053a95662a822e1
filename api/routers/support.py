"""/support/tickets: anyone logged in opens tickets and talks with support; admins and
coordinators (support staff) see every ticket, triage, reply and close. SLA from priority."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, DbSession, Paging, RequestLocale
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    Search,
    changeable,
    get_visible,
    list_page,
    update_row,
)
from api.schemas.support import (
    ReplyCreate,
    ReplyOut,
    TicketClose,
    TicketCreate,
    TicketDetail,
    TicketFilters,
    TicketOut,
    TicketUpdate,
)
from domain.access import STAFF, Role
from domain.errors import Conflict, Forbidden, Invalid
from domain.models.content import SupportTicket, SupportTicketReply
from domain.models.users import User
from domain.support import sla_due
from domain.vocabulary import TicketPriority, TicketStatus

OWNER_FIELDS = {"subject", "description", "category"}


def is_staff(user: User) -> bool:
    return Role(user.user_type) in STAFF


def ticket_number(now: datetime) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return f"MV-TK-{now:%Y}-" + "".join(secrets.choice(alphabet) for _ in range(8))


class TicketAccess(Access[SupportTicket]):
    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and is_staff(user):
            return stmt
        owner = user.id if user is not None else None
        return stmt.where(SupportTicket.user_id == owner)

    def writable_fields(self, user: User) -> set[str] | None:
        return None if is_staff(user) else OWNER_FIELDS

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if row.status == TicketStatus.CLOSED:
            raise Conflict("This ticket is closed", code="TICKET_CLOSED")
        if not is_staff(user) and row.user_id != user.id:
            raise Forbidden("Not your ticket", code="NOT_TICKET_OWNER")

    async def after_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if row not in db:
            return
        row.sla_due_date = sla_due(TicketPriority(row.priority), row.created_at)
        if row.status == TicketStatus.RESOLVED and row.resolved_at is None:
            row.resolved_at = datetime.now(UTC)
        await db.flush()


tickets = Resource(
    model=SupportTicket,
    name="ticket",
    out=TicketOut,
    access=TicketAccess(),
    search=(SupportTicket.subject, SupportTicket.ticket_number),
    sortable=("created_at", "sla_due_date", "status"),
)

TAG = {"name": "support", "description": "Support tickets and their conversation"}
router = APIRouter(prefix="/support/tickets", tags=["support"])
Sort = Annotated[str | None, Query(pattern=tickets.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List support", name="list_ticket")
async def list_tickets(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[TicketFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[TicketOut]:
    return await list_page(db, tickets, user, paging, locale, filters, search, sort)


@router.patch("/{id}", summary="Change a ticket", name="update_ticket")
async def update_ticket(
    row: Annotated[SupportTicket, Depends(changeable(tickets))],
    body: TicketUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[TicketOut]:
    await update_row(db, tickets, user, row, body.model_dump(exclude_unset=True))
    return ok(TicketOut.model_validate(row), "Ticket updated")


TicketId = Annotated[uuid.UUID, Path(alias="id")]


async def visible_ticket(row_id: TicketId, user: CurrentUser, db: DbSession) -> SupportTicket:
    """The path's ticket if the caller may see it (404 otherwise), before the body is read."""
    return await get_visible(db, tickets, user, row_id)


VisibleTicket = Annotated[SupportTicket, Depends(visible_ticket)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TicketOut],
    summary="Open a ticket",
)
async def open_ticket(body: TicketCreate, user: CurrentUser, db: DbSession) -> Envelope[TicketOut]:
    now = datetime.now(UTC)
    for _ in range(3):
        row = SupportTicket(
            id=uuid.uuid4(),
            ticket_number=ticket_number(now),
            user_id=user.id,
            subject=body.subject,
            description=body.description,
            category=body.category,
            priority=body.priority.value,
            status=TicketStatus.OPEN.value,
            sla_due_date=sla_due(body.priority, now),
        )
        try:
            async with db.begin_nested():
                db.add(row)
                await db.flush()
            break
        except IntegrityError:  # a ticket number collision: draw again
            continue
    else:
        raise Conflict("Could not number the ticket; try again", code="TICKET_NUMBER_TAKEN")
    return ok(TicketOut.model_validate(row), f"Ticket {row.ticket_number} opened")


@router.get("/{id}", response_model=Envelope[TicketDetail], summary="A ticket and its replies")
async def get_ticket(row_id: TicketId, user: CurrentUser, db: DbSession) -> Envelope[TicketDetail]:
    row = await get_visible(db, tickets, user, row_id)
    stmt = select(SupportTicketReply).where(SupportTicketReply.ticket_id == row.id)
    if not is_staff(user):
        stmt = stmt.where(SupportTicketReply.is_internal.is_(False))
    replies = (
        await db.scalars(stmt.order_by(SupportTicketReply.created_at, SupportTicketReply.id))
    ).all()
    detail = TicketDetail.model_validate(row)
    detail.replies = [ReplyOut.model_validate(r) for r in replies]
    return ok(detail)


@router.post(
    "/{id}/reply",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[ReplyOut],
    summary="Reply on a ticket",
)
async def reply(
    row: VisibleTicket, body: ReplyCreate, user: CurrentUser, db: DbSession
) -> Envelope[ReplyOut]:
    if row.status == TicketStatus.CLOSED:
        raise Conflict("This ticket is closed; open a new one", code="TICKET_CLOSED")
    if body.is_internal and not is_staff(user):
        raise Forbidden(
            "Only support staff write internal notes",
            code="FIELD_NOT_ALLOWED",
            details={"fields": ["is_internal"]},
        )
    answer = SupportTicketReply(
        id=uuid.uuid4(),
        ticket_id=row.id,
        user_id=user.id,
        message=body.message,
        is_internal=body.is_internal,
    )
    db.add(answer)
    if not body.is_internal:
        # Who spoke last decides whose turn it is.
        row.status = (TicketStatus.WAITING if is_staff(user) else TicketStatus.OPEN).value
        if is_staff(user) and row.assigned_to_user_id is None:
            row.assigned_to_user_id = user.id
    await db.flush()
    return ok(ReplyOut.model_validate(answer), "Reply added")


@router.patch("/{id}/close", response_model=Envelope[TicketOut], summary="Close a ticket")
async def close(
    row: VisibleTicket, body: TicketClose, user: CurrentUser, db: DbSession
) -> Envelope[TicketOut]:
    if row.status == TicketStatus.CLOSED:
        raise Conflict("This ticket is already closed", code="TICKET_CLOSED")
    if not is_staff(user) and body.resolution_notes:
        raise Invalid(
            "Resolution notes are written by support staff",
            code="FIELD_NOT_ALLOWED",
            details={"fields": ["resolution_notes"]},
        )
    now = datetime.now(UTC)
    row.status = TicketStatus.CLOSED.value
    row.resolved_at = row.resolved_at or now
    if body.resolution_notes:
        row.resolution_notes = body.resolution_notes
    await db.flush()
    return ok(TicketOut.model_validate(row), "Ticket closed")
