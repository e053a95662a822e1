"""Notifications: starting durable deliveries, and the reads and marks of a user's inbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.services.auth import Verified
from domain.errors import NotFound, Unavailable
from domain.models.notifications import Channel, Notification
from domain.models.users import User
from runtime.logging import log
from runtime.settings import Settings
from workflows.notification import NotificationRequest, notify


async def start(
    temporal: Client,
    settings: Settings,
    request: NotificationRequest,
    *,
    raise_unavailable: bool = False,
) -> bool:
    """Start the delivery workflow. Its id is the dedupe key, so a repeat never sends twice.
    The rows this follows are already committed; a failure here is logged, not raised, and the
    person can ask again (resend-verification, forgot-password). `raise_unavailable`: Temporal
    down is the caller's 503 TEMPORAL_UNAVAILABLE (an admin's message), not a logged miss."""
    try:
        await notify(temporal, settings.task_queue, request)
        return True
    except Unavailable as exc:
        if exc.code == "TEMPORAL_UNAVAILABLE" and raise_unavailable:
            raise
        log.error("notification_not_started", dedupe_key=request.dedupe_key, error=exc.code)
        return False
    except Exception as exc:
        log.error(
            "notification_not_started", dedupe_key=request.dedupe_key, error=type(exc).__name__
        )
        return False


async def send_verification(
    temporal: Client, settings: Settings, user: User, verification_id: uuid.UUID, token: str
) -> bool:
    """The verification link, to the address it verifies: the pending one while a change waits
    (by e-mail only: an in-app copy would let a session confirm an address it does not hold)."""
    pending = user.pending_email is not None
    return await start(
        temporal,
        settings,
        NotificationRequest(
            dedupe_key=f"verify-email:{verification_id}",
            user_id=user.id,
            template="verify_email",
            channels=[Channel.EMAIL] if pending else [Channel.EMAIL, Channel.IN_APP],
            to_pending_email=pending,
            type="account",
            context={
                "first_name": user.first_name or "",
                "token": token,
                "verify_url": f"{settings.public_base_url}/verify-email?token={token}",
            },
        ),
    )


async def send_password_reset(
    temporal: Client, settings: Settings, user: User, reset_id: uuid.UUID, token: str
) -> bool:
    return await start(
        temporal,
        settings,
        NotificationRequest(
            dedupe_key=f"password-reset:{reset_id}",
            user_id=user.id,
            template="password_reset",
            channels=[Channel.EMAIL],
            type="account",
            context={
                "first_name": user.first_name or "",
                "token": token,
                "reset_url": f"{settings.public_base_url}/reset-password?token={token}",
                "minutes": str(settings.reset_token_minutes),
            },
        ),
    )


async def send_password_changed(temporal: Client, settings: Settings, user: User) -> bool:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return await start(
        temporal,
        settings,
        NotificationRequest(
            dedupe_key=f"password-changed:{user.id}:{stamp}",
            user_id=user.id,
            template="password_changed",
            channels=[Channel.EMAIL, Channel.IN_APP],
            type="account",
            context={"first_name": user.first_name or ""},
        ),
    )


async def send_email_changed(
    temporal: Client, settings: Settings, user: User, verification_id: uuid.UUID, old_email: str
) -> bool:
    """The notice of a confirmed e-mail change, to the address it replaced (by e-mail only): a
    change made by someone who took the account over does not go unseen. It names neither
    address (the old one may have passed to someone else)."""
    return await start(
        temporal,
        settings,
        NotificationRequest(
            dedupe_key=f"email-changed:{verification_id}",
            user_id=user.id,
            template="email_changed",
            channels=[Channel.EMAIL],
            to_email=old_email,
            type="account",
            context={"first_name": user.first_name or ""},
        ),
    )


async def email_confirmed(temporal: Client, settings: Settings, verified: Verified) -> None:
    """After a verification is committed: a confirmed change's notice to the replaced address."""
    if verified.replaced_email is not None:
        await send_email_changed(
            temporal, settings, verified.user, verified.verification_id, verified.replaced_email
        )


async def list_for_user(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    unread: bool | None,
    channel: Channel | None,
    offset: int,
    limit: int,
) -> tuple[list[Notification], int]:
    conditions: list[Any] = [Notification.user_id == user_id]
    if unread is True:
        conditions.append(Notification.is_read.is_(False))
    elif unread is False:
        conditions.append(Notification.is_read.is_(True))
    if channel is not None:
        conditions.append(Notification.channel == channel.value)
    total = await db.scalar(select(func.count()).select_from(Notification).where(*conditions))
    rows = await db.scalars(
        select(Notification)
        .where(*conditions)
        .order_by(Notification.created_at.desc(), Notification.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


async def get_own(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    row = await db.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if row is None:  # another person's notification is as invisible as a missing one
        raise NotFound("Notification not found", code="NOTIFICATION_NOT_FOUND")
    return row


async def mark_read(
    db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    row = await get_own(db, user_id, notification_id)
    if not row.is_read:
        row.is_read = True
        row.read_at = datetime.now(UTC)
        await db.flush()
        await db.refresh(row)
    return row


async def mark_all_read(db: AsyncSession, user_id: uuid.UUID) -> int:
    result = await db.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(False))
        .values(is_read=True, read_at=datetime.now(UTC))
        .returning(Notification.id)
    )
    return len(result.all())


async def remove(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
    row = await get_own(db, user_id, notification_id)
    await db.delete(row)
    await db.flush()
