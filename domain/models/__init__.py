"""The SQLAlchemy models of the schema, one module per aggregate. Importing this registers all."""

from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.appointments import (
    Appointment,
    AppointmentStatusHistory,
    DoctorWaitlist,
    SlotHold,
)
from domain.models.audit import AuditLog
from domain.models.base import Base
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.care import LabTest, MedicalRecord, Prescription
from domain.models.catalog import (
    Doctor,
    Hospital,
    HospitalDoctor,
    HospitalTreatment,
    Insurance,
    Laboratory,
    Package,
    Treatment,
)
from domain.models.content import (
    Faq,
    Media,
    Review,
    SupportTicket,
    SupportTicketReply,
    Translation,
    TranslationCharge,
    TranslationJob,
    TranslationJobStatusHistory,
    TranslationStatusHistory,
    WebsiteContent,
)
from domain.models.notifications import Notification, OutboxAttachment, OutboxMessage
from domain.models.payments import (
    Coupon,
    Invoice,
    Payment,
    PaymentRefund,
    PaymentStatusHistory,
    WebhookEvent,
)
from domain.models.subscriptions import Subscription, SubscriptionPlan, SubscriptionStatusHistory
from domain.models.users import EmailVerification, PasswordReset, Patient, RefreshToken, User

__all__ = [
    "AnalyticsDaily",
    "AnalyticsDay",
    "Appointment",
    "AppointmentStatusHistory",
    "AuditLog",
    "Base",
    "Booking",
    "BookingStatusHistory",
    "Coupon",
    "Doctor",
    "DoctorWaitlist",
    "EmailVerification",
    "Faq",
    "Hospital",
    "HospitalDoctor",
    "HospitalTreatment",
    "Insurance",
    "Invoice",
    "LabTest",
    "Laboratory",
    "Media",
    "MedicalRecord",
    "Notification",
    "OutboxAttachment",
    "OutboxMessage",
    "Package",
    "PasswordReset",
    "Patient",
    "Payment",
    "PaymentRefund",
    "PaymentStatusHistory",
    "Prescription",
    "RefreshToken",
    "Review",
    "SlotHold",
    "Subscription",
    "SubscriptionPlan",
    "SubscriptionStatusHistory",
    "SupportTicket",
    "SupportTicketReply",
    "Translation",
    "TranslationCharge",
    "TranslationJob",
    "TranslationJobStatusHistory",
    "TranslationStatusHistory",
    "Treatment",
    "User",
    "WebhookEvent",
    "WebsiteContent",
]
