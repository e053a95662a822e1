"""E-mail through SendGrid's v3 Mail Send API (the official SDK, run in a thread)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment as SendGridAttachment,
)
from sendgrid.helpers.mail import (
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    Mail,
)

from activities.providers.channels import Attachment, DeliveryError, is_permanent_status

TIMEOUT_SECONDS = 30.0


class SendGridEmail:
    provider = "sendgrid"

    def __init__(
        self, api_key: str, *, sender: str, host: str = "https://api.sendgrid.com"
    ) -> None:
        self._sender = sender
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        # The SDK exposes no timeout; its HTTP client passes this one to every request.
        self._client.client.timeout = TIMEOUT_SECONDS

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        return await asyncio.to_thread(self._send, to, subject, text, html, dedupe_key, attachments)

    def _send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...],
    ) -> str:
        try:
            payload = self._payload(to, subject, text, html, dedupe_key, attachments)
        except (KeyError, TypeError, ValueError) as exc:
            # The SDK could not even build the request (e.g. an address it cannot parse):
            # the same input would fail the same way on every retry.
            raise DeliveryError(
                "sendgrid could not build the message", repr(exc), permanent=True
            ) from None
        try:
            response = self._client.send(payload)
        except HTTPError as exc:
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
            raise DeliveryError(
                f"sendgrid HTTP {exc.status_code}",
                str(body),
                permanent=is_permanent_status(exc.status_code),
            ) from None
        message_id = response.headers.get("X-Message-Id")
        if not message_id:
            raise DeliveryError(f"sendgrid HTTP {response.status_code} without X-Message-Id")
        return str(message_id)

    def _payload(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...],
    ) -> dict[str, Any]:
        message = Mail(
            from_email=self._sender,
            to_emails=to,
            subject=subject,
            plain_text_content=text,
            html_content=html,
        )
        # Comes back on SendGrid's event webhook, tying delivery events to our notification rows.
        message.custom_arg = CustomArg("dedupe_key", dedupe_key)
        # The SDK's add_attachment inserts at the front of its list: adding them last to first
        # sends them in the caller's order.
        for item in reversed(attachments):
            message.add_attachment(
                SendGridAttachment(
                    FileContent(base64.b64encode(item.content).decode("ascii")),
                    FileName(item.filename),
                    FileType(item.mime_type),
                    Disposition("attachment"),
                )
            )
        payload: dict[str, Any] = message.get()
        return payload
