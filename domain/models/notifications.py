"""Notifications (one row per user, message and channel) and the local outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.notification import Channel as Channel
from domain.notification import DeliveryStatus


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        one_of("channel", [c.value for c in Channel], nullable=False),
        # A dedupe key names one message; each channel delivers it at most once.
        UniqueConstraint("dedupe_key", "channel"),
        Index("ix_notifications_user_id", "user_id"),
        Index("ix_notifications_created_at", "created_at"),
        Index("ix_notifications_user_id_is_read", "user_id", "is_read"),
        one_of("delivery_status", [s.value for s in DeliveryStatus]),
        # Delivery receipts find their message by the provider's id.
        Index("ix_notifications_provider_message_id", "provider", "provider_message_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(50))
    reference_type: Mapped[str | None] = mapped_column(String(50))
    reference_id: Mapped[uuid.UUID | None]
    is_read: Mapped[bool] = mapped_column(server_default=text("false"))
    read_at: Mapped[datetime | None]
    is_sent: Mapped[bool] = mapped_column(server_default=text("false"))
    sent_at: Mapped[datetime | None]
    channel: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(50))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the provider's receipts say became of the message (Twilio's status callbacks).
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OutboxMessage(Base):
    """Where e-mail, SMS and WhatsApp go when no provider is configured: stored, listable."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        one_of(
            "channel",
            [c.value for c in Channel if c not in (Channel.IN_APP, Channel.PUSH)],
            nullable=False,
        ),
        UniqueConstraint("dedupe_key", "channel"),
        Index("ix_outbox_messages_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    channel: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()


class OutboxAttachment(Base):
    """A file an outbox e-mail carried, stored with it so it can be read back like the message."""

    __tablename__ = "outbox_attachments"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_non_negative"),
        # Keeps the e-mail's order of files; also the index that finds a message's files.
        UniqueConstraint("outbox_message_id", "position"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    outbox_message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()


DEVICE_PLATFORMS = ("android", "ios", "web")


class UserDevice(Base):
    """A device a user receives push notifications on (its FCM registration token). A token
    names one app install: registered again by another user, it moves to them."""

    __tablename__ = "user_devices"
    __table_args__ = (
        one_of("platform", DEVICE_PLATFORMS, nullable=False),
        UniqueConstraint("token"),
        Index("ix_user_devices_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
