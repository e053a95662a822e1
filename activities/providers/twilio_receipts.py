"""Twilio delivery receipts (message status callbacks): the signature check (the SDK's
RequestValidator over the URL Twilio posted to and the form it sent) and one normalized shape.

Pure functions, no web framework, no I/O: POST /webhooks/twilio calls them before it records
anything. A forged or unsigned callback is Forbidden (403) and nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from domain.errors import Forbidden
from domain.notification import DeliveryStatus

PROVIDER = "twilio"


class ReceiptRejected(Forbidden):
    code = "WEBHOOK_REJECTED"


class ReceiptSignatureMissing(ReceiptRejected):
    code = "WEBHOOK_SIGNATURE_MISSING"


class ReceiptSignatureInvalid(ReceiptRejected):
    code = "WEBHOOK_SIGNATURE_INVALID"


class ReceiptSecretNotConfigured(ReceiptRejected):
    code = "WEBHOOK_SECRET_NOT_CONFIGURED"


@dataclass(frozen=True)
class DeliveryReport:
    """What one callback says of one message: ids and a status only (no numbers, no text)."""

    message_sid: str
    status: DeliveryStatus
    error_code: str | None = None


# Twilio's statuses that are not a delivery state of ours: before queueing, or inbound.
_EARLIER = {"accepted", "scheduled", "sending", "receiving", "received"}
_MAPPED = {"canceled": DeliveryStatus.FAILED}


def verify_twilio(
    url: str, params: Mapping[str, str], signature: str | None, auth_token: str
) -> None:
    """Raise ReceiptRejected unless X-Twilio-Signature is Twilio's signature of this URL and
    form under the account's auth token."""
    if not auth_token:
        raise ReceiptSecretNotConfigured("No Twilio auth token is configured.")
    if not signature:
        raise ReceiptSignatureMissing("The X-Twilio-Signature header is missing.")
    if not RequestValidator(auth_token).validate(url, dict(params), signature):
        raise ReceiptSignatureInvalid("The Twilio signature does not match the request.")


def delivery_report(params: Mapping[str, str]) -> DeliveryReport | None:
    """The receipt's message and status; None for a callback that reports no delivery state
    (an inbound message, a status before queueing, a status Twilio may add later)."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not raw or raw in _EARLIER:
        return None
    status = _MAPPED.get(raw)
    if status is None:
        try:
            status = DeliveryStatus(raw)
        except ValueError:
            return None
    return DeliveryReport(sid, status, params.get("ErrorCode") or None)
