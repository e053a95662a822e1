"""The delivery channels (e-mail; SMS and WhatsApp): the ports their adapters implement. Which
adapter serves a channel is picked in activities/providers/wiring.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


class DeliveryError(Exception):
    """A provider refused or failed a message.

    `summary` is safe to leave the database (Temporal failures, logs): status and provider only.
    The exception text may carry the provider's response, which can name the recipient.
    `permanent` means retrying the same request cannot succeed (a 4xx such as a bad number).
    """

    def __init__(self, summary: str, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.summary = summary
        self.permanent = permanent


def is_permanent_status(status: int) -> bool:
    # Auth and rate-limit failures heal once an operator or the clock fixes them; other 4xx
    # describe a request that will never be accepted.
    return 400 <= status < 500 and status not in (401, 403, 408, 409, 429)


class EmailChannel(Protocol):
    provider: str

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        """Send one e-mail; return the provider's message id."""
        ...


class MessageChannel(Protocol):
    """SMS or WhatsApp: a short text to a phone number in E.164 form."""

    provider: str

    async def send_message(self, to: str, body: str, dedupe_key: str) -> str:
        """Send one message; return the provider's message id."""
        ...
