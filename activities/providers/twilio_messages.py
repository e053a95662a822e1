"""SMS and WhatsApp through Twilio's Messages API (the official SDK, run in a thread)."""

from __future__ import annotations

import asyncio

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from activities.providers.channels import DeliveryError, is_permanent_status

TIMEOUT_SECONDS = 30.0
WHATSAPP_PREFIX = "whatsapp:"


def _whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + number


class TwilioMessages:
    provider = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        sender: str,
        whatsapp: bool = False,
        base_url: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        self._whatsapp = whatsapp
        # Where Twilio posts this message's delivery receipts (POST /webhooks/twilio).
        self._status_callback = status_callback
        self._sender = _whatsapp_address(sender) if whatsapp else sender
        self._client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS)
        )
        if base_url:
            # The Api domain is built once and cached, so this reaches every Messages call.
            self._client.api.base_url = base_url

    @property
    def reports_delivery(self) -> bool:
        """Receipts follow each message (POST /webhooks/twilio) when a callback URL is set."""
        return bool(self._status_callback)

    async def send_message(self, to: str, body: str, dedupe_key: str) -> str:
        recipient = _whatsapp_address(to) if self._whatsapp else to
        return await asyncio.to_thread(self._send, recipient, body)

    def _send(self, to: str, body: str) -> str:
        try:
            if self._status_callback:
                message = self._client.messages.create(
                    to=to, from_=self._sender, body=body, status_callback=self._status_callback
                )
            else:
                message = self._client.messages.create(to=to, from_=self._sender, body=body)
        except TwilioRestException as exc:
            raise DeliveryError(
                f"twilio HTTP {exc.status} (error {exc.code})",
                exc.msg,
                permanent=is_permanent_status(exc.status),
            ) from None
        if not message.sid:
            raise DeliveryError("twilio response without a message sid")
        return str(message.sid)
