"""The platform's clean-up (the plan's cleanup.job): tokens that can no longer be used, uploads
that never became part of anything, and outbox messages past their retention. Each run reports
how many of each it removed; deleting what is already gone removes nothing, so a retry is safe.

- tokens: refresh tokens past their expiry (a revoked one is kept until then: reusing it must
  still revoke its family), password-reset and e-mail-verification tokens used or expired;
- uploads: media rows attached to no entity (entity_type and entity_id unset) older than
  MEDIVOY_CLEANUP_UPLOAD_GRACE_HOURS, and their stored files;
- outbox: local outbox messages (and their attachments) older than
  MEDIVOY_OUTBOX_RETENTION_DAYS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.providers.storage import Storage, StorageError
from domain.models.content import Media
from domain.models.notifications import OutboxMessage
from domain.models.users import EmailVerification, PasswordReset, RefreshToken
from runtime.logging import log
from runtime.settings import Settings

# Uploads removed per batch (each batch: files first, then their rows).
UPLOAD_BATCH = 200


class CleanupRequest(BaseModel):
    # The instant the run counts ages from (the workflow's start); none: now.
    as_of: datetime | None = None


class CleanupReport(BaseModel):
    refresh_tokens: int = 0
    password_resets: int = 0
    email_verifications: int = 0
    uploads: int = 0
    outbox_messages: int = 0


class CleanupActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        settings: Settings,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._storage = storage
        self._upload_grace = timedelta(hours=settings.cleanup_upload_grace_hours)
        self._outbox_retention = timedelta(days=settings.outbox_retention_days)

    @activity.defn
    async def clean_up_platform(self, request: CleanupRequest) -> CleanupReport:
        now = request.as_of or datetime.now(UTC)
        report = CleanupReport()
        async with self._sessionmaker() as session, session.begin():
            report.refresh_tokens = await _deleted(
                session, delete(RefreshToken).where(RefreshToken.expires_at < now)
            )
            report.password_resets = await _deleted(
                session,
                delete(PasswordReset).where(
                    or_(PasswordReset.is_used.is_(True), PasswordReset.expires_at < now)
                ),
            )
            report.email_verifications = await _deleted(
                session,
                delete(EmailVerification).where(
                    or_(EmailVerification.is_used.is_(True), EmailVerification.expires_at < now)
                ),
            )
            report.outbox_messages = await _deleted(
                session,
                delete(OutboxMessage).where(
                    OutboxMessage.created_at < now - self._outbox_retention
                ),
            )
        report.uploads = await self._unattached_uploads(now - self._upload_grace)
        log.info("platform_cleaned_up", **report.model_dump())
        return report

    async def _unattached_uploads(self, before: datetime) -> int:
        removed = 0
        while True:
            async with self._sessionmaker() as session, session.begin():
                rows = list(
                    await session.execute(
                        select(Media.id, Media.file_url)
                        .where(
                            Media.entity_type.is_(None),
                            Media.entity_id.is_(None),
                            Media.created_at < before,
                        )
                        .order_by(Media.created_at)
                        .limit(UPLOAD_BATCH)
                        .with_for_update(skip_locked=True)
                    )
                )
                if not rows:
                    return removed
                for _, key in rows:
                    if key:
                        try:
                            await self._storage.delete(key)  # one already gone is no error
                        except StorageError:
                            # Not a key of ours (an outside URL): only the row goes.
                            log.warning("cleanup_upload_not_stored_here")
                await session.execute(delete(Media).where(Media.id.in_([r[0] for r in rows])))
                removed += len(rows)
            if activity.in_activity():
                activity.heartbeat(removed)


async def _deleted(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def cleanup_activity_list(activities: CleanupActivities) -> list[Callable[..., Awaitable[Any]]]:
    return [activities.clean_up_platform]
