"""The local delivery target: every message is stored in outbox_messages and can be read back."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.providers.channels import Attachment
from domain.models.notifications import Channel, OutboxMessage

PREFIX = "outbox:"


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    channel: Channel,
    recipient: str,
    subject: str | None,
    body_text: str,
    body_html: str | None,
    dedupe_key: str,
) -> str:
    """Store once per (dedupe_key, channel); a repeat returns the id of the stored message."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert(OutboxMessage)
            .values(
                id=uuid.uuid4(),
                channel=channel.value,
                recipient=recipient,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                dedupe_key=dedupe_key,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key", "channel"])
        )
        stored = await session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.dedupe_key == dedupe_key, OutboxMessage.channel == channel.value
            )
        )
    return f"{PREFIX}{stored}"


class OutboxEmail:
    provider = "outbox"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        # outbox_messages has no attachment column yet: the message is stored without them.
        return await _store(
            self._sessionmaker,
            channel=Channel.EMAIL,
            recipient=to,
            subject=subject,
            body_text=text,
            body_html=html,
            dedupe_key=dedupe_key,
        )


class OutboxMessages:
    provider = "outbox"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], channel: Channel) -> None:
        self._sessionmaker = sessionmaker
        self._channel = channel

    async def send_message(self, to: str, body: str, dedupe_key: str) -> str:
        return await _store(
            self._sessionmaker,
            channel=self._channel,
            recipient=to,
            subject=None,
            body_text=body,
            body_html=None,
            dedupe_key=dedupe_key,
        )


async def read_outbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    dedupe_key: str | None = None,
    channel: Channel | None = None,
) -> list[OutboxMessage]:
    """The stored messages, oldest first (for the dev inbox and tests)."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
    if dedupe_key is not None:
        query = query.where(OutboxMessage.dedupe_key == dedupe_key)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel.value)
    async with sessionmaker() as session:
        return list((await session.scalars(query)).all())
