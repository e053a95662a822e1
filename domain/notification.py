"""What a notification travels on: the channels (an enum, so workflows need no ORM)."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    IN_APP = "in_app"
    # Firebase Cloud Messaging to the user's registered devices (user_devices), when configured.
    PUSH = "push"


class DeliveryStatus(StrEnum):
    """A message's fate as its provider reports it (Twilio's MessageStatus)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"

    @property
    def rank(self) -> int:
        """How far the message got: receipts arrive out of order, and a later one never moves a
        message back (a late "sent" after "delivered" changes nothing)."""
        return _RANK[self]

    @property
    def failed(self) -> bool:
        return self in (DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED)


_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.UNDELIVERED: 2,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.READ: 3,
}
