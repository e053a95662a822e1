"""Durable state machines, one module per lifecycle. ALL_WORKFLOWS is what the worker runs."""

from workflows.analytics import WORKFLOWS as ANALYTICS_WORKFLOWS
from workflows.appointment import WORKFLOWS as APPOINTMENT_WORKFLOWS
from workflows.booking import WORKFLOWS as BOOKING_WORKFLOWS
from workflows.invoice import WORKFLOWS as INVOICE_WORKFLOWS
from workflows.maintenance import WORKFLOWS as MAINTENANCE_WORKFLOWS
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
from workflows.payment import WORKFLOWS as PAYMENT_WORKFLOWS
from workflows.prescription import WORKFLOWS as PRESCRIPTION_WORKFLOWS
from workflows.subscription import WORKFLOWS as SUBSCRIPTION_WORKFLOWS
from workflows.translation import WORKFLOWS as TRANSLATION_WORKFLOWS
from workflows.waitlist import WORKFLOWS as WAITLIST_WORKFLOWS

ALL_WORKFLOWS: list[type] = [
    *NOTIFICATION_WORKFLOWS,
    *BOOKING_WORKFLOWS,
    *PAYMENT_WORKFLOWS,
    *INVOICE_WORKFLOWS,
    *APPOINTMENT_WORKFLOWS,
    *PRESCRIPTION_WORKFLOWS,
    *TRANSLATION_WORKFLOWS,
    *WAITLIST_WORKFLOWS,
    *ANALYTICS_WORKFLOWS,
    *MAINTENANCE_WORKFLOWS,
    *SUBSCRIPTION_WORKFLOWS,
]
