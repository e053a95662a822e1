"""What workflows send each other: the payloads, the signal names, and every workflow id.

No workflow module imports another: a workflow reaches another by its id (from here), signals it
by a name (from here) with a payload (from here), and starts a child by its type name (from
here). Names are durable contracts: the constants below spell what has already run, and the
receiving workflow's handlers are declared with the same constants.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from activities.notify import AttachmentRef
from activities.payments import IssuedInvoice
from activities.providers.webhooks import Outcome
from activities.translate import TranslationTarget
from domain.lifecycle import SYSTEM
from domain.notification import Channel, DeliveryStatus
from domain.payment import PaymentStatus

# Workflow type names (as run; never renamed).
BOOKING_WORKFLOW = "BookingWorkflow"
PAYMENT_WORKFLOW = "PaymentWorkflow"
NOTIFICATION_WORKFLOW = "DeliverNotification"
INVOICE_WORKFLOW = "InvoiceDeliveryWorkflow"
PRESCRIPTION_WORKFLOW = "PrescriptionDeliveryWorkflow"
APPOINTMENT_WORKFLOW = "AppointmentWorkflow"
WAITLIST_WORKFLOW = "DoctorWaitlistWorkflow"
TRANSLATION_WORKFLOW = "TranslationWorkflow"
TRANSLATION_SWEEP_WORKFLOW = "TranslationSweepWorkflow"
SUBSCRIPTION_WORKFLOW = "SubscriptionWorkflow"
# The hourly sweep's Schedule (its runs' ids start with it).
TRANSLATION_SWEEP_SCHEDULE = "translation-sweep"
WAITLIST_EXPIRY_WORKFLOW = "WaitlistExpiryWorkflow"
WAITLIST_EXPIRY_SCHEDULE = "waitlist-expiry"
ANALYTICS_ROLLUP_WORKFLOW = "AnalyticsRollUpWorkflow"
# The daily roll-up's Schedule (midnight in MEDIVOY_ANALYTICS_TIMEZONE).
ANALYTICS_ROLLUP_SCHEDULE = "analytics-roll-up"
CLEANUP_WORKFLOW = "PlatformCleanupWorkflow"
CLEANUP_SCHEDULE = "platform-cleanup"
PAYMENT_REMINDER_WORKFLOW = "PaymentReminderWorkflow"
PAYMENT_REMINDER_SCHEDULE = "payment-reminders"
BACKUP_WORKFLOW = "DatabaseBackupWorkflow"
BACKUP_SCHEDULE = "database-backup"


def booking_workflow_id(booking_id: UUID) -> str:
    return f"booking-{booking_id}"


def payment_workflow_id(payment_id: UUID) -> str:
    return f"payment-{payment_id}"


def subscription_workflow_id(subscription_id: UUID) -> str:
    return f"subscription-{subscription_id}"


class SubscriptionSignal:
    """What SubscriptionWorkflow hears from its first charge's PaymentWorkflow."""

    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"


def appointment_workflow_id(appointment_id: UUID) -> str:
    return f"appointment-{appointment_id}"


def waitlist_workflow_id(doctor_id: UUID) -> str:
    """One waitlist workflow per doctor: it offers freed slots to waiting patients in order."""
    return f"waitlist-{doctor_id}"


def translation_workflow_id(target: TranslationTarget) -> str:
    """One translation workflow per (entity, locale): ids only."""
    return f"translation-{target.entity_type}-{target.entity_id}-{target.locale}"


def translation_summary(target: TranslationTarget) -> str:
    """The run in the Temporal UI (ids only)."""
    return f"Translation of {target.entity_type} {target.entity_id} into {target.locale}"


def notification_workflow_id(dedupe_key: str) -> str:
    return f"notification-{dedupe_key}"


class InvoiceDelivery(BaseModel):
    """The input of an InvoiceDeliveryWorkflow: one delivery of one invoice. At most one of
    payment_id (issue the invoice of this completed payment first, then mail it), send_id (a
    sending asked through the API: each its own e-mail) and subscription_id (a subscription's
    charge, its invoice issued by the SubscriptionWorkflow: mailed to the subscriber) is set;
    with none, the PDF is only rendered and stored (a download of an invoice not rendered yet)."""

    invoice_id: UUID
    payment_id: UUID | None = None
    issued_on: date | None = None
    send_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Told invoice_sent once the invoice is out (a payment's booking).
    booking_id: UUID | None = None
    subscription_id: UUID | None = None
    # The message the invoice travels with, instead of the invoice's own (a subscription's:
    # domain/subscription_messages.py); its invoice_number and invoice_url come from the invoice.
    template: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    context: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_cause(self) -> Self:
        causes = [self.payment_id, self.send_id, self.subscription_id]
        if sum(cause is not None for cause in causes) > 1:
            raise ValueError("give one of payment_id, send_id and subscription_id, not both")
        if self.payment_id is not None and self.issued_on is None:
            raise ValueError("a payment's invoice needs issued_on")
        return self

    @property
    def mails(self) -> bool:
        """False for a PDF only (no payment, no sending, no subscription)."""
        return (
            self.payment_id is not None
            or self.send_id is not None
            or self.subscription_id is not None
        )


class InvoiceDelivered(BaseModel):
    invoice_id: UUID
    invoice_number: str
    pdf_storage_key: str
    # The e-mail's dedupe key; None when nothing was mailed (no account, or a PDF only).
    dedupe_key: str | None = None
    # The payment's invoice as issued (a payment's delivery only).
    issued: IssuedInvoice | None = None


def invoice_workflow_id(delivery: InvoiceDelivery) -> str:
    if delivery.send_id is not None:
        return f"invoice-{delivery.invoice_id}-send-{delivery.send_id}"
    if delivery.payment_id is None and delivery.subscription_id is None:
        return f"invoice-{delivery.invoice_id}-pdf"
    return f"invoice-{delivery.invoice_id}"


def invoice_summary(delivery: InvoiceDelivery) -> str:
    """The delivery in the Temporal UI (ids only)."""
    if delivery.send_id is not None:
        return f"Invoice {delivery.invoice_id}: send {delivery.send_id}"
    if delivery.subscription_id is not None:
        return f"Invoice {delivery.invoice_id} of subscription {delivery.subscription_id}"
    if delivery.payment_id is None:
        return f"Invoice {delivery.invoice_id}: PDF"
    return f"Invoice {delivery.invoice_id} of payment {delivery.payment_id}"


class PrescriptionDelivery(BaseModel):
    """The input of a PrescriptionDeliveryWorkflow: render a prescription's PDF once and store
    it, then (mails) e-mail it to the patient. Without mails, the PDF only (a download of a
    prescription not rendered yet)."""

    prescription_id: UUID
    mails: bool = True


class PrescriptionDelivered(BaseModel):
    prescription_id: UUID
    pdf_storage_key: str
    # The patient's e-mail (None: not mailed, or the patient has no account).
    dedupe_key: str | None = None


def prescription_workflow_id(delivery: PrescriptionDelivery) -> str:
    suffix = "" if delivery.mails else "-pdf"
    return f"prescription-{delivery.prescription_id}{suffix}"


def prescription_summary(delivery: PrescriptionDelivery) -> str:
    """The delivery in the Temporal UI (ids only)."""
    what = "PDF and e-mail" if delivery.mails else "PDF"
    return f"Prescription {delivery.prescription_id}: {what}"


class BookingSignal:
    """The signals BookingWorkflow takes: from the payment workflow and from the API."""

    RECORD_UPLOADED = "record_uploaded"
    PAYMENT_STARTED = "payment_started"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    INVOICE_SENT = "invoice_sent"
    FEEDBACK_RECEIVED = "feedback_received"
    REFUND_SETTLED = "refund_settled"


class PaymentSignal:
    """The signals PaymentWorkflow takes: from the booking workflow and the webhook receivers."""

    GATEWAY_EVENT = "gateway_event"
    CANCEL_FOR_BOOKING = "cancel_for_booking"
    CANCEL_FOR_APPOINTMENT = "cancel_for_appointment"


class AppointmentSignal:
    """The signals AppointmentWorkflow takes: from the payment workflow and from the API."""

    PAYMENT_STARTED = "payment_started"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    REFUND_SETTLED = "refund_settled"
    INVOICE_SENT = "invoice_sent"
    PARTICIPANT_JOINED = "participant_joined"
    # From a follow-up's own workflow, once it is stored: the first moves to follow_up_scheduled.
    FOLLOW_UP_BOOKED = "follow_up_booked"


class WaitlistSignal:
    """The signals DoctorWaitlistWorkflow takes: from appointment workflows and the API."""

    SLOT_FREED = "slot_freed"
    # From the API: the patient of an open offer left the waitlist (its hold is gone).
    OFFER_WITHDRAWN = "offer_withdrawn"


class TranslationSignal:
    """The signals TranslationWorkflow takes: from the API (content written) and the sweep."""

    SOURCE_CHANGED = "source_changed"


class SourceChanged(BaseModel):
    """The entity's translatable text may have changed: compare and translate what did."""


class ParticipantJoined(BaseModel):
    """A participant opened the video call (GET /appointments/{id}/video-call)."""

    party: Literal["patient", "doctor"]
    user_id: UUID
    at: datetime


class FollowUpBooked(BaseModel):
    """To the first appointment's workflow: this follow-up appointment is booked."""

    appointment_id: UUID


class SlotFreed(BaseModel):
    """To a doctor's waitlist workflow: this time is free again (cancel, reschedule, expired
    hold, no-show of the doctor). The waitlist offers it to the first waiting patient."""

    doctor_id: UUID
    starts_at: datetime
    ends_at: datetime


class OfferWithdrawn(BaseModel):
    """To a doctor's waitlist workflow: this entry left while offered a slot; offer it on."""

    entry_id: UUID


class WaitlistStart(BaseModel):
    """How a doctor's waitlist workflow is started (signal-with-start with a SlotFreed): the
    doctor, and how long an offer keeps a freed slot for the patient it is offered to."""

    doctor_id: UUID
    offer_minutes: int = Field(default=30, ge=1)


class AppointmentCancelled(BaseModel):
    """To the payment workflow (signal cancel_for_appointment): the appointment is cancelled
    (or the doctor did not show); cancel the payment if it is still open and refund `percent`."""

    appointment_id: UUID
    percent: Decimal = Field(ge=0, le=100)
    reason: str | None = None
    requested_by: UUID | None = None
    role: str = SYSTEM


class RecordUploaded(BaseModel):
    record_id: UUID


class PaymentEvent(BaseModel):
    payment_id: UUID | None = None
    # Why (a failure's reason); kept in the history notes, so no card data.
    note: str | None = None


class InvoiceEvent(BaseModel):
    invoice_id: UUID | None = None


class FeedbackEvent(BaseModel):
    review_id: UUID | None = None


class BookingCancelled(BaseModel):
    """To the payment workflow (signal cancel_for_booking): the booking is cancelled; cancel
    the payment if it is still open and refund `percent` of what was paid."""

    booking_id: UUID
    percent: Decimal = Field(ge=0, le=100)
    reason: str | None = None
    requested_by: UUID | None = None
    role: str = SYSTEM


class RefundSettled(BaseModel):
    """From the payment workflow (signal refund_settled): where the payment's money stands
    after a refund, or after the cancellation it was asked for."""

    payment_id: UUID
    payment_status: PaymentStatus
    # This refund, and everything refunded of the payment so far.
    amount: Decimal = Decimal("0")
    refunded_total: Decimal = Decimal("0")
    currency: str | None = None
    # refunded, nothing_to_refund, payment_cancelled or failed (staff must act).
    outcome: str = "refunded"
    # The answer to this booking's cancellation (the booking stops waiting for it).
    for_cancellation: bool = False


class GatewayEventSignal(BaseModel):
    """A verified webhook, reduced to ids and the outcome it suggests (a hint)."""

    event_id: str
    event_type: str
    outcome: Outcome = Outcome.OTHER


class NotificationSignal:
    """The signals DeliverNotification takes: from the delivery-receipt webhook."""

    DELIVERY_RECEIPT = "delivery_receipt"


class DeliveryReceiptEvent(BaseModel):
    """A provider's final word on one message (POST /webhooks/twilio): delivered, read,
    undelivered or failed. Ids and a status only."""

    provider_message_id: str
    status: DeliveryStatus


class NotificationRequest(BaseModel):
    """The input of a DeliverNotification child (or of a start from the API)."""

    # Names the message (e.g. "verify_email:<verification id>"); part of the workflow ID, so it
    # must carry ids only, never an address or a token.
    dedupe_key: str = Field(min_length=1, max_length=200)
    user_id: UUID
    template: str
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL, Channel.IN_APP], min_length=1
    )
    locale: str | None = None
    # Template variables. May hold a token: it travels in the payload (through the data
    # converter, where an encryption codec can sit), never in IDs or search attributes.
    context: dict[str, str] = Field(default_factory=dict)
    type: str | None = None
    reference_type: str | None = None
    reference_id: UUID | None = None
    # Files for the e-mail, by storage key (never their bytes: histories stay small and free of
    # documents). SMS, WhatsApp and in-app ignore them.
    attachments: list[AttachmentRef] = Field(default_factory=list)
    # Channels held back: each, in order, replaces a channel that failed (its send failed for
    # good, or its receipt said undelivered or failed). Each is used at most once.
    fallback: list[Channel] = Field(default_factory=list)
    # Send the e-mail to the address the user asked to change to (users.pending_email), not
    # their current one: the link in it proves the new address is theirs.
    to_pending_email: bool = False
    # Send the e-mail to this address instead of the user's: the one a confirmed change has just
    # replaced, so the notice of the change reaches whoever held the account before. It travels
    # in the payload only (through the data converter), never in an id or a search attribute.
    to_email: str | None = Field(default=None, max_length=255)


__all__ = [
    "ANALYTICS_ROLLUP_SCHEDULE",
    "ANALYTICS_ROLLUP_WORKFLOW",
    "APPOINTMENT_WORKFLOW",
    "BACKUP_SCHEDULE",
    "BACKUP_WORKFLOW",
    "BOOKING_WORKFLOW",
    "CLEANUP_SCHEDULE",
    "CLEANUP_WORKFLOW",
    "INVOICE_WORKFLOW",
    "NOTIFICATION_WORKFLOW",
    "PAYMENT_REMINDER_SCHEDULE",
    "PAYMENT_REMINDER_WORKFLOW",
    "PAYMENT_WORKFLOW",
    "PRESCRIPTION_WORKFLOW",
    "SUBSCRIPTION_WORKFLOW",
    "TRANSLATION_SWEEP_SCHEDULE",
    "TRANSLATION_SWEEP_WORKFLOW",
    "TRANSLATION_WORKFLOW",
    "WAITLIST_EXPIRY_SCHEDULE",
    "WAITLIST_EXPIRY_WORKFLOW",
    "WAITLIST_WORKFLOW",
    "AppointmentCancelled",
    "AppointmentSignal",
    "AttachmentRef",
    "BookingCancelled",
    "BookingSignal",
    "DeliveryReceiptEvent",
    "FeedbackEvent",
    "FollowUpBooked",
    "GatewayEventSignal",
    "InvoiceDelivered",
    "InvoiceDelivery",
    "InvoiceEvent",
    "NotificationRequest",
    "NotificationSignal",
    "OfferWithdrawn",
    "ParticipantJoined",
    "PaymentEvent",
    "PaymentSignal",
    "PrescriptionDelivered",
    "PrescriptionDelivery",
    "RecordUploaded",
    "RefundSettled",
    "SlotFreed",
    "SourceChanged",
    "SubscriptionSignal",
    "TranslationSignal",
    "TranslationTarget",
    "WaitlistSignal",
    "WaitlistStart",
    "appointment_workflow_id",
    "booking_workflow_id",
    "invoice_summary",
    "invoice_workflow_id",
    "notification_workflow_id",
    "payment_workflow_id",
    "prescription_summary",
    "prescription_workflow_id",
    "subscription_workflow_id",
    "translation_summary",
    "translation_workflow_id",
    "waitlist_workflow_id",
]
