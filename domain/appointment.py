"""The appointment (teleconsultation) lifecycle."""

from __future__ import annotations

from enum import StrEnum


class AppointmentStatus(StrEnum):
    REQUESTED = "requested"
    BOOKED = "booked"
    APPOINTMENT_CONFIRMED = "appointment_confirmed"
    AWAITING_CONSULTATION = "awaiting_consultation"
    CONSULTATION_IN_PROGRESS = "consultation_in_progress"
    PRESCRIPTION_PROVIDED = "prescription_provided"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    CONSULTATION_COMPLETED = "consultation_completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class AppointmentType(StrEnum):
    TELECONSULT = "teleconsult"
    IN_PERSON = "in_person"
