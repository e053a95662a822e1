"""The local delivery target: every message is stored in outbox_messages (an e-mail's files in
outbox_attachments) and can be read back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.providers.channels import Attachment
from domain.models.notifications import Channel, OutboxAttachment, OutboxMessage

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
    attachments: tuple[Attachment, ...] = (),
) -> str:
    """Store once per (dedupe_key, channel); a repeat returns the id of the stored message.

    The attachments are written in the same transaction as the message, and only by the send
    that inserted it: a repeat stores nothing twice, and no message is ever seen without them."""
    async with sessionmaker() as session, session.begin():
        inserted = await session.scalar(
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
            .returning(OutboxMessage.id)
        )
        if inserted is None:
            stored = await session.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.dedupe_key == dedupe_key, OutboxMessage.channel == channel.value
                )
            )
            return f"{PREFIX}{stored}"
        if attachments:
            await session.execute(
                insert(OutboxAttachment).values(
                    [
                        {
                            "id": uuid.uuid4(),
                            "outbox_message_id": inserted,
                            "position": position,
                            "filename": item.filename,
                            "content_type": item.mime_type,
                            "size": len(item.content),
                            "content": item.content,
                        }
                        for position, item in enumerate(attachments)
                    ]
                )
            )
    return f"{PREFIX}{inserted}"


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
        return await _store(
            self._sessionmaker,
            channel=Channel.EMAIL,
            recipient=to,
            subject=subject,
            body_text=text,
            body_html=html,
            dedupe_key=dedupe_key,
            attachments=attachments,
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


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment's description; its bytes come from `read_outbox_attachment(id)`."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class StoredMessage:
    id: uuid.UUID
    channel: str
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    dedupe_key: str
    created_at: datetime
    attachments: tuple[StoredAttachment, ...] = ()


class AttachmentNotFound(LookupError):
    pass


async def read_outbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    dedupe_key: str | None = None,
    channel: Channel | None = None,
    recipient: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[StoredMessage]:
    """The stored messages with their attachments' names, types and sizes (not their bytes),
    oldest first unless asked otherwise (for the dev inbox, the CLI and tests). The recipient
    is matched without regard to case."""
    query = select(OutboxMessage)
    if newest_first:
        query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    else:
        query = query.order_by(OutboxMessage.created_at, OutboxMessage.id)
    if dedupe_key is not None:
        query = query.where(OutboxMessage.dedupe_key == dedupe_key)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel.value)
    if recipient is not None:
        query = query.where(func.lower(OutboxMessage.recipient) == recipient.strip().lower())
    if limit is not None:
        query = query.limit(limit)
    async with sessionmaker() as session:
        messages = list((await session.scalars(query)).all())
        files: dict[uuid.UUID, list[StoredAttachment]] = {}
        if messages:
            rows = await session.execute(
                select(
                    OutboxAttachment.outbox_message_id,
                    OutboxAttachment.id,
                    OutboxAttachment.filename,
                    OutboxAttachment.content_type,
                    OutboxAttachment.size,
                )
                .where(OutboxAttachment.outbox_message_id.in_([m.id for m in messages]))
                .order_by(OutboxAttachment.outbox_message_id, OutboxAttachment.position)
            )
            for message_id, attachment_id, filename, content_type, size in rows.all():
                files.setdefault(message_id, []).append(
                    StoredAttachment(attachment_id, filename, content_type, size)
                )
    return [
        StoredMessage(
            id=m.id,
            channel=m.channel,
            recipient=m.recipient,
            subject=m.subject,
            body_text=m.body_text,
            body_html=m.body_html,
            dedupe_key=m.dedupe_key,
            created_at=m.created_at,
            attachments=tuple(files.get(m.id, ())),
        )
        for m in messages
    ]


async def read_outbox_attachment(
    sessionmaker: async_sessionmaker[AsyncSession], attachment_id: uuid.UUID
) -> bytes:
    """The bytes of one stored attachment, exactly as they were sent."""
    async with sessionmaker() as session:
        content = await session.scalar(
            select(OutboxAttachment.content).where(OutboxAttachment.id == attachment_id)
        )
    if content is None:
        raise AttachmentNotFound(str(attachment_id))
    return bytes(content)
