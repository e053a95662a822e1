"""The delivery channels (e-mail; SMS and WhatsApp) and the builder that picks one by settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from domain.models.notifications import Channel

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from runtime.settings import Settings


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


# The implementations import their SDKs; they are imported when built so that code which only
# needs the protocols (workflows, API callers of `notify`) does not load sendgrid or twilio.


def build_email_channel(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> EmailChannel:
    api_key = settings.sendgrid_api_key.get_secret_value()
    if api_key:
        from activities.providers.sendgrid_email import SendGridEmail

        return SendGridEmail(api_key, sender=settings.email_from, host=settings.sendgrid_host)
    from activities.providers.outbox import OutboxEmail

    return OutboxEmail(sessionmaker)


def build_message_channel(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], channel: Channel
) -> MessageChannel:
    if channel not in (Channel.SMS, Channel.WHATSAPP):
        raise ValueError(f"not a message channel: {channel}")
    sender = (
        settings.twilio_from_number if channel == Channel.SMS else settings.twilio_whatsapp_from
    )
    auth_token = settings.twilio_auth_token.get_secret_value()
    if settings.twilio_account_sid and auth_token and sender:
        from activities.providers.twilio_messages import TwilioMessages

        return TwilioMessages(
            settings.twilio_account_sid,
            auth_token,
            sender=sender,
            whatsapp=channel == Channel.WHATSAPP,
            base_url=settings.twilio_base_url or None,
        )
    from activities.providers.outbox import OutboxMessages

    return OutboxMessages(sessionmaker, channel)
